// Fault 5 of issue 12, short: 500 admission requests per second for 5 s against the real webhook
// server. `npm run test:chaos` runs the same suite for 60 s (test/chaos/webhook-load.test.ts).
import { describeWebhookLoad } from '../harness/webhook-load-suite.ts';

describeWebhookLoad(5);
