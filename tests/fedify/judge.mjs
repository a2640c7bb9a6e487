// Fedify (https://fedify.dev) as an independent judge of a Commonground server.
// Run by tests/test_fedify_judge.py with Node >= 22 from node_modules (npm package `node`):
//
//   node judge.mjs BASE MEMBER GROUP POST_URL TOKEN
//
// 1. looks up our Person and Group (by URL and by acct: WebFinger; BASE is https, a
//    loopback front with a test CA that NODE_EXTRA_CA_CERTS names), and a post, and
//    walks every collection they name;
// 2. runs a tiny Fedify federation on a 127.0.0.1 port whose actor follows MEMBER and
//    GROUP, then has MEMBER start a thread in GROUP (our API, TOKEN): Fedify's inbox
//    must receive, and verify, our signed Accepts, the Create and the Group's Announce;
// 3. POSTs Likes signed by Fedify (RFC 9421 and draft-cavage) to MEMBER's inbox, and
//    one with a body changed after signing.
// Prints one JSON object with what it saw. Nothing leaves this machine: every
// document URL must be on loopback, or be a JSON-LD context Fedify ships.
import http from "node:http";
import { createFederation, generateCryptoKeyPair, MemoryKvStore, signRequest } from "@fedify/fedify";
import {
  Accept, Announce, Create, Endpoints, Follow, Person, lookupObject, traverseCollection,
} from "@fedify/vocab";
import { getDocumentLoader, preloadedContexts } from "@fedify/vocab-runtime";

const [base, member, group, postUrl, token] = process.argv.slice(2);
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

function loopbackOnly(loader) {
  return async (url, options) => {
    if (!LOOPBACK.has(new URL(url).hostname) && !(url in preloadedContexts)) {
      throw new Error(`refused to fetch ${url}: only loopback is reachable`);
    }
    return await loader(url, options);
  };
}
const documentLoader = loopbackOnly(getDocumentLoader({ allowPrivateAddress: true }));
const loaders = { documentLoader, contextLoader: documentLoader };

// --- 1. lookups ---------------------------------------------------------------------

async function walk(id) {
  const collection = await lookupObject(id, loaders);
  const items = [];
  for await (const item of traverseCollection(collection, loaders)) {
    items.push(item.id?.href ?? null);
  }
  return { type: collection?.constructor.name, id: collection?.id?.href,
    totalItems: collection?.totalItems ?? null, items };
}

async function describeActor(url, handle) {
  const found = await lookupObject(handle, { ...loaders, allowPrivateAddress: true });
  const actor = await lookupObject(url, loaders);
  const key = await actor.getPublicKey(loaders);
  const collections = {};
  for (const name of ["outbox", "followers", "following", "featured", "liked"]) {
    const id = actor[`${name}Id`];
    if (id) collections[name] = await walk(id);
  }
  return {
    type: actor.constructor.name, id: actor.id?.href, acct: found?.id?.href ?? null,
    preferredUsername: actor.preferredUsername?.toString(),
    inbox: actor.inboxId?.href, sharedInbox: actor.endpoints?.sharedInbox?.href,
    keyOwner: key?.ownerId?.href, keyId: key?.id?.href, collections,
  };
}

const host = new URL(base).host;
const lookups = {
  member: await describeActor(`${base}/users/${member}`, `acct:${member}@${host}`),
  group: await describeActor(`${base}/c/${group}`, `acct:${group}@${host}`),
};
const post = await lookupObject(postUrl, loaders);
const replies = post.repliesId ? await walk(post.repliesId) : null;
lookups.post = {
  type: post.constructor.name, id: post.id?.href, content: post.content?.toString(),
  attributedTo: post.attributionId?.href, replies,
};

// --- 2. a Fedify inbox that follows our member --------------------------------------

const received = [];
const rsa = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
const federation = createFederation({
  kv: new MemoryKvStore(),
  documentLoaderFactory: () => documentLoader,
  contextLoaderFactory: () => documentLoader,
});
federation
  .setActorDispatcher("/actors/{identifier}", async (ctx, identifier) => {
    if (identifier !== "judge") return null;
    const [pair] = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier), preferredUsername: identifier, name: "Fedify judge",
      inbox: ctx.getInboxUri(identifier), outbox: new URL(`/actors/${identifier}/outbox`, ctx.url),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: pair.cryptographicKey,
    });
  })
  .setKeyPairsDispatcher(async () => [rsa]);
federation
  .setInboxListeners("/actors/{identifier}/inbox", "/inbox")
  .on(Accept, async (ctx, accept) => {
    received.push({ type: "Accept", actor: accept.actorId?.href, object: accept.objectId?.href });
  })
  .on(Create, async (ctx, create) => {
    const note = await create.getObject(ctx);
    received.push({ type: "Create", actor: create.actorId?.href, object: note?.id?.href,
      content: note?.content?.toString() });
  })
  .on(Announce, async (ctx, announce) => {
    received.push({ type: "Announce", actor: announce.actorId?.href,
      object: announce.objectId?.href });
  })
  .onError((ctx, error) => {
    console.error(`inbox error: ${error?.stack ?? error}`);
  });

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = chunks.length ? Buffer.concat(chunks) : undefined;
  const request = new Request(new URL(req.url, origin), {
    method: req.method, headers: req.headers, body: req.method === "GET" ? undefined : body,
  });
  let response;
  try {
    response = await federation.fetch(request, { contextData: undefined });
  } catch (error) {
    console.error(`${req.method} ${req.url}: ${error?.stack ?? error}`);
    response = new Response(String(error), { status: 500 });
  }
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;
const ctx = federation.createContext(new URL(origin), undefined);
const judge = ctx.getActorUri("judge");
const [{ keyId }] = await ctx.getActorKeyPairs("judge");

async function until(what, check, seconds = 40) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const found = check();
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}; received ${JSON.stringify(received)}`);
}

const memberActor = await lookupObject(`${base}/users/${member}`, loaders);
const groupActor = await lookupObject(`${base}/c/${group}`, loaders);
for (const [n, target] of [[1, memberActor], [2, groupActor]]) {
  const id = new URL(`${origin}/follows/${n}`);
  await ctx.sendActivity({ identifier: "judge" }, target,
    new Follow({ id, actor: judge, object: target.id }));
  await until(`Accept of follow ${n}`,
    () => received.find((a) => a.type === "Accept" && a.object === id.href));
}

// The member starts a thread in the community: the member's Create reaches the
// member's followers, the Group's Announce its followers (FEP-1b12).
const text = "Hello from Commonground to Fedify";
const made = await fetch(`${base}/api/cg/v1/posts`, {
  method: "POST", body: JSON.stringify({ text, community: group }),
  headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
});
if (made.status !== 201) throw new Error(`POST /api/cg/v1/posts: ${made.status} ${await made.text()}`);
const { id: madeId } = await made.json();
await until("Create", () => received.find((a) => a.type === "Create" && a.content?.includes(text)));
await until("Announce", () => received.find(
  (a) => a.type === "Announce" && a.object === `${base}/posts/${madeId}`));

// --- 3. Fedify-signed POSTs to our inbox -------------------------------------------

const signed = {};
for (const spec of ["rfc9421", "draft-cavage-http-signatures-12", "tampered"]) {
  const activity = {
    "@context": "https://www.w3.org/ns/activitystreams",
    id: `${origin}/likes/${spec}`, type: "Like", actor: judge.href, object: postUrl,
  };
  const body = JSON.stringify(activity);
  const request = new Request(memberActor.inboxId, {
    method: "POST", body, headers: { "content-type": "application/activity+json" },
  });
  const signedRequest = await signRequest(request, rsa.privateKey, keyId,
    { spec: spec === "tampered" ? "rfc9421" : spec });
  const sent = spec === "tampered"
    ? new Request(signedRequest.url, { method: "POST", headers: signedRequest.headers,
      body: body.replace("tampered", "tampered-later") })
    : signedRequest;
  const response = await fetch(sent);
  signed[spec] = { status: response.status, body: await response.text(),
    signature: signedRequest.headers.get("signature-input") ? "rfc9421" : "draft-cavage" };
}

server.close();
console.log(JSON.stringify({ origin, judge: judge.href, lookups, received, signed }));
process.exit(0);
