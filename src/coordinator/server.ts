/**
 * The Coordinator's HTTPS API (express). Authenticates each call (service account token via
 * TokenReview), hands the body to the Coordinator and maps its outcome to HTTP. Replicas that are
 * not the leader answer 503 so that agents retry (through the Service, on another replica).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../observability/log.ts';
import type { Authenticator } from './auth.ts';
import { CoordinatorError, type Coordinator } from './coordinator.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { ACTIVATE_PATH, ATTEST_PATH, JWKS_PATH, NONCE_PATH } from './protocol.ts';

export interface CoordinatorServerOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  authenticator: Authenticator;
  /** The Coordinator while this replica leads, else undefined. */
  coordinator: () => Coordinator | undefined;
  log: Logger;
  metrics?: CoordinatorMetrics;
}

export interface CoordinatorServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startCoordinatorServer(options: CoordinatorServerOptions): Promise<CoordinatorServer> {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '4mb' }));
  app.use((req, res, next) => {
    res.on('finish', () => options.metrics?.requests.inc({ path: req.path, code: String(res.statusCode) }));
    next();
  });

  const leader = (): Coordinator => {
    const c = options.coordinator();
    if (!c) throw new CoordinatorError(503, 'this replica is not the leader; retry');
    return c;
  };
  const authenticated = async (req: Request): Promise<string> => {
    const caller = await options.authenticator.authenticate(req.header('authorization'));
    if (!caller.ok) throw new CoordinatorError(caller.status, caller.reason);
    return caller.node;
  };

  app.get(JWKS_PATH, (_req, res) => {
    res.json(leader().jwks);
  });
  app.post(NONCE_PATH, wrap(async (req, res) => {
    const node = await authenticated(req);
    res.json(leader().issueNonce(node));
  }));
  app.post(ATTEST_PATH, wrap(async (req, res) => {
    const node = await authenticated(req);
    const result = await leader().attest(node, req.body);
    res.status(result.accepted ? 200 : 403).json(result);
  }));
  app.post(ACTIVATE_PATH, wrap(async (req, res) => {
    const node = await authenticated(req);
    if (typeof req.body?.report !== 'string') throw new CoordinatorError(400, 'expected {"report": "<compact JWS>"}');
    const result = await leader().activate(node, req.body.report);
    res.status(result.activated ? 200 : 403).json(result);
  }));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof CoordinatorError) {
      res.status(err.status).json({ error: err.message });
      return;
    }
    const status = (err as { status?: number; type?: string }).type === 'entity.too.large' ? 413 : (err as { status?: number }).status === 400 ? 400 : 500;
    if (status === 500) options.log.error({ err: (err as Error).message }, 'coordinator request failed');
    res.status(status).json({ error: status === 500 ? 'internal error' : (err as Error).message });
  });

  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }, app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function wrap(handler: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => {
    handler(req, res).catch(next);
  };
}
