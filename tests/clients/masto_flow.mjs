// masto.js (npm `masto`, pinned in package.json) against a real Commonground
// server, as Elk and Phanpy use it: an app registered with a JSON body, a token
// from the password grant, posting, the home timeline paged through absolute Link
// headers, an image uploaded to /api/v2/media and polled until processed, and the
// WebSocket stream with the token as Sec-WebSocket-Protocol. Prints one JSON
// object of what it saw; tests/test_node_clients.py checks it.
// Usage: node masto_flow.mjs BASE_URL USERNAME PASSWORD
import { createOAuthAPIClient, createRestAPIClient, createStreamingAPIClient } from "masto";

const [url, username, password] = process.argv.slice(2);
const seen = {};
const withTimeout = (promise, ms, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)),
  ]);

const anonymous = createRestAPIClient({ url });
const app = await anonymous.v1.apps.create({
  clientName: "masto.js test",
  redirectUris: "urn:ietf:wg:oauth:2.0:oob",
  scopes: "read write follow",
});
seen.app = { name: app.name, hasSecret: Boolean(app.clientSecret) };

const oauth = createOAuthAPIClient({ url });
const token = await oauth.token.create({
  grantType: "password",
  clientId: app.clientId,
  clientSecret: app.clientSecret,
  username,
  password,
  scope: "read write follow",
});
const rest = createRestAPIClient({ url, accessToken: token.accessToken });
const me = await rest.v1.accounts.verifyCredentials();
seen.me = me.username;
const instance = await rest.v2.instance.fetch();
seen.streaming = instance.configuration.urls.streaming;

const posted = [];
for (let i = 0; i < 5; i++) {
  posted.push((await rest.v1.statuses.create({ status: `masto note ${i}`, spoilerText: i === 0 ? "a warning" : "" })).id);
}
seen.posted = posted;
seen.spoiler = (await rest.v1.statuses.$select(posted[0]).fetch()).spoilerText;

const pages = [];
for await (const page of rest.v1.timelines.home.list({ limit: 2 })) {
  pages.push(page.map((s) => s.id));
  if (pages.length > 5) break;
}
seen.pages = pages;

const png = Buffer.from(process.env.CG_TEST_PNG_BASE64, "base64");
const media = await withTimeout(
  rest.v2.media.create({ file: new Blob([png], { type: "image/png" }), description: "a small square" }),
  60000,
  "media upload",
);
seen.media = { id: media.id, type: media.type, hasUrl: Boolean(media.url), description: media.description };
const withImage = await rest.v1.statuses.create({ status: "with a picture", mediaIds: [media.id] });
seen.attached = withImage.mediaAttachments.map((m) => m.id);

const streaming = createStreamingAPIClient({ streamingApiUrl: seen.streaming, accessToken: token.accessToken, retry: false });
const subscription = streaming.user.subscribe();
// masto subscribes when the subscription is first read: start reading now
const heard = (async () => {
  for await (const event of subscription) {
    if (event.event === "update" && event.payload.content.includes("heard live")) return event;
  }
  throw new Error("the stream ended");
})();
// give the subscription a moment to reach the server before posting
await new Promise((resolve) => setTimeout(resolve, 1500));
const live = await rest.v1.statuses.create({ status: "heard live" });
const event = await withTimeout(heard, 30000, "the stream");
seen.liveId = live.id;
seen.streamed = { event: event.event, id: event.payload.id, content: event.payload.content };
subscription.unsubscribe();
streaming.close();

process.stdout.write(JSON.stringify(seen) + "\n");
process.exit(0);
