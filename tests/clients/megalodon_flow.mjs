// megalodon (npm, pinned in package.json) against a real Commonground server:
// detector() must recognise it as Mastodon-compatible (NodeInfo's
// metadata.upstream), then post and read the home timeline.
// Prints one JSON object; tests/test_node_clients.py checks it.
// Usage: node megalodon_flow.mjs BASE_URL ACCESS_TOKEN
import generator, { detector } from "megalodon";

const [url, accessToken] = process.argv.slice(2);
const seen = {};
seen.sns = await detector(url);
const client = generator(seen.sns, url, accessToken);
seen.me = (await client.verifyAccountCredentials()).data.username;
const posted = await client.postStatus("hello from megalodon", { spoiler_text: "a test" });
seen.posted = { id: posted.data.id, spoiler: posted.data.spoiler_text };
const home = await client.getHomeTimeline({ limit: 5 });
seen.home = home.data.map((s) => ({ id: s.id, content: s.content }));
const again = await client.getStatus(posted.data.id);
seen.fetched = again.data.id;
process.stdout.write(JSON.stringify(seen) + "\n");
