/**
 * The node agent's countersigning endpoint (POST /v1/countersign), for the confidential-node pods
 * on its node. Plain HTTP on a hostPort: what it returns is a signature the Coordinator verifies
 * with the agent key the node's evidence bound, so TLS would add no integrity, and a pod has no
 * anchor to check an agent's serving certificate with. Requests are rate-limited as a whole
 * before anything reaches the API server (TokenReview), and bodies are bounded.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { errorMessage } from '../errors.ts';
import { jsonErrorHandler, listenHttp } from '../http-server.ts';
import type { Logger } from '../observability/log.ts';
import { COUNTERSIGN_PATH, MAX_COUNTERSIGN_BODY_BYTES } from '../protocol/countersignature.ts';
import type { Countersigner } from './countersigner.ts';

/** All pods of a node together: a pod asks once per certificate, about every half lifetime. */
export const DEFAULT_COUNTERSIGN_LIMIT = { burst: 50, intervalMs: 200 };

export interface CountersignServerOptions {
  host: string;
  port: number;
  countersigner: Countersigner;
  log: Logger;
  /** Spends one request of the node's budget (all pods together), or says when to retry; absent: no limit. */
  admit?: () => { allowed: true } | { allowed: false; retryAfterMs: number };
}

export interface RunningCountersignServer {
  port: number;
  close(): Promise<void>;
}

export async function startCountersignServer(options: CountersignServerOptions): Promise<RunningCountersignServer> {
  const log = options.log.child({ component: 'countersign' });
  const app = express();
  app.disable('x-powered-by');
  app.post(
    COUNTERSIGN_PATH,
    (_req: Request, res: Response, next: NextFunction) => {
      const decision = options.admit?.() ?? { allowed: true };
      if (decision.allowed) return next();
      res.set('Retry-After', String(Math.ceil(decision.retryAfterMs / 1000)));
      res.status(429).json({ error: 'too many requests; retry later' });
    },
    express.json({ limit: MAX_COUNTERSIGN_BODY_BYTES }),
    (req: Request, res: Response) => {
      options.countersigner.countersign(req.header('authorization'), req.body).then(
        (answer) => {
          if (answer.status !== 200) log.warn({ status: answer.status, ...answer.body }, 'countersignature refused');
          res.status(answer.status).json(answer.body);
        },
        (err: unknown) => {
          log.error({ err: errorMessage(err) }, 'countersigning failed');
          res.status(503).json({ error: 'countersigning failed; retry' });
        },
      );
    },
  );
  app.use(jsonErrorHandler);
  return listenHttp(app, options.host, options.port);
}
