// Fault 5 of issue 12: 500 admission requests per second for 60 s against the real webhook
// server; `npm test` runs the same suite for 5 s (test/cluster/webhook-load.test.ts).
import { describeWebhookLoad } from '../harness/webhook-load-suite.ts';

describeWebhookLoad(60);
