// Cross-check: the webhooks the Python check received (WEBHOOKS_OUT, with the endpoint's
// secret) verified by the Standard Webhooks reference library for Node (npm
// `standardwebhooks`), as an integrator's receiver would verify them.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const { secret, received } = JSON.parse(readFileSync(process.env.WEBHOOKS_OUT, "utf8"));
const webhook = new Webhook(secret);
let failed = 0;
if (received.length === 0) {
  console.log("FAIL nothing to verify");
  failed += 1;
}
for (const { headers, body } of received) {
  try {
    const payload = webhook.verify(body, headers);
    if (payload.type !== "order.created") throw new Error(`unexpected type ${payload.type}`);
    console.log(`ok   verified ${headers["webhook-id"]} ${payload.type}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${headers["webhook-id"]}: ${err.message}`);
  }
  try {
    webhook.verify(`${body} `, headers);
    failed += 1;
    console.log("FAIL a changed body verified");
  } catch {
    // refused, as it must be
  }
}
console.log(`node standardwebhooks: ${received.length - failed} verified, ${failed} failed`);
process.exit(failed ? 1 : 0);
