"""The sign-up question: set by an admin on /admin, asked on the sign-up page and
required by the API (``answer``), compared ignoring case and spacing; a wrong
answer stores nothing, keeps what was typed and counts against the sign-up rate
limit. On both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import select

from app.models import Account
from app.services import accounts
from tests.conftest import PASSWORD
from tests.test_pages import submit

QUESTION = "What is the name of our river?"


def _sign_up(client: TestClient, name: str, **extra):
    return client.post(
        "/api/cg/v1/accounts", json={"username": name, "password": PASSWORD, **extra}
    )


def _as_admin(client: TestClient, new_ctx) -> None:
    with new_ctx() as ctx:
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    assert submit(
        client, "/login", "/login", {"username": "root", "password": PASSWORD}
    ).is_redirect


def _accounts(new_ctx) -> set[str]:
    with new_ctx() as ctx:
        return set(ctx.db.exec(select(Account.username)))


def test_the_admin_sets_a_question_that_sign_ups_must_answer(
    client: TestClient, app, new_ctx
) -> None:
    _as_admin(client, new_ctx)
    r = submit(client, "/admin", "/admin/signup-question", {"question": QUESTION, "answer": ""})
    assert r.status_code == 422 and "Give the answer you accept." in r.text
    assert f'value="{QUESTION}"' in r.text  # what was typed stays
    r = submit(
        client, "/admin", "/admin/signup-question", {"question": QUESTION, "answer": " Isar "}
    )
    assert r.status_code == 303
    assert client.get("/api/cg/v1/instance/registration").json()["question"] == QUESTION

    with TestClient(app, base_url="http://127.0.0.1:8000") as visitor:
        page = visitor.get("/signup")
        assert QUESTION in page.text and 'name="answer"' in page.text
        typed = {"username": "ada", "password": PASSWORD, "email": "ada@example.org"}
        r = submit(visitor, "/signup", "/signup", {**typed, "answer": "Danube"})
        assert r.status_code == 422 and "not the answer" in r.text
        for value in ('value="ada"', 'value="ada@example.org"', 'value="Danube"'):
            assert value in r.text
        r = _sign_up(visitor, "ada")
        assert r.status_code == 422 and r.json()["error"] == "wrong_answer"
        assert _accounts(new_ctx) == {"root"}
        assert _sign_up(visitor, "ada", answer="  the ISAR ").status_code == 422
        assert _sign_up(visitor, "ada", answer="  iSAR ").status_code == 201
        r = submit(
            visitor,
            "/signup",
            "/signup",
            {"username": "ben", "password": PASSWORD, "answer": "isar"},
        )
        assert r.status_code == 303
    assert _accounts(new_ctx) == {"root", "ada", "ben"}

    r = submit(client, "/admin", "/admin/signup-question", {"question": "", "answer": ""})
    assert r.status_code == 303
    assert _sign_up(client, "cyd").status_code == 201  # no question: nothing asked


def test_wrong_answers_count_against_the_sign_up_limit(
    client: TestClient, settings, new_ctx
) -> None:
    _as_admin(client, new_ctx)
    submit(client, "/admin", "/admin/signup-question", {"question": QUESTION, "answer": "Isar"})
    settings.signup_limit_per_client = 2
    for _ in range(2):
        assert _sign_up(client, "ada", answer="Rhine").status_code == 422
    r = _sign_up(client, "ada", answer="Isar")
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert _accounts(new_ctx) == {"root"}


def test_only_admins_set_the_question(client: TestClient, new_ctx) -> None:
    assert _sign_up(client, "ada").status_code == 201
    assert submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD}).is_redirect
    r = submit(client, "/settings", "/admin/signup-question", {"question": QUESTION, "answer": "x"})
    assert r.status_code == 403
    assert client.get("/api/cg/v1/instance/registration").json()["question"] == ""
