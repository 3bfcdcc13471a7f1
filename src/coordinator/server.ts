/**
 * The Coordinator's HTTPS API (express). Each agent call is first authenticated (service account
 * token via TokenReview) and charged to its node's rate, and only then is its body read, with a
 * limit sized for what that call carries; the Coordinator decides, this maps its outcome to HTTP.
 * `POST /v1/coordinator/attest` is public: no token, charged to the client's address instead, a
 * nonce-sized body. `/v1/coordinator/peer/...` (peer recovery) is for the operator's own replicas:
 * their service account token first, then their rate, then the body. The workload paths
 * (`attestor init`) are workload-routes.ts. Replicas that are not the leader answer 503 so that
 * callers retry (through the Service, on another replica).
 */

import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from '../observability/log.ts';
import {
  COORDINATOR_ATTEST_PATH,
  decodeCoordinatorAttestRequest,
  MAX_COORDINATOR_ATTEST_BODY_BYTES,
} from '../protocol/coordinator-attest.ts';
import {
  ACTIVATE_PATH,
  ATTEST_PATH,
  JWKS_PATH,
  MAX_ACTIVATION_BODY_BYTES,
  MAX_EVIDENCE_BODY_BYTES,
  MAX_NONCE_BODY_BYTES,
  MAX_WATCH_SECONDS,
  NONCE_PATH,
  WATCH_PATH,
} from '../protocol/messages.ts';
import {
  MAX_PEER_NONCE_BODY_BYTES,
  MAX_PEER_RECOVER_BODY_BYTES,
  PEER_NONCE_PATH,
  PEER_RECOVER_PATH,
} from '../protocol/peer-recovery.ts';
import { CertificateReloader, DEFAULT_CERT_RELOAD_INTERVAL_MS } from '../tls/certificate-reloader.ts';
import type { Authenticator, PeerAuthenticator } from './auth.ts';
import type { Coordinator } from './coordinator.ts';
import { CoordinatorError } from './coordinator-error.ts';
import type { CoordinatorIdentity } from './identity.ts';
import { DEFAULT_CLIENT_ATTEST_RATE, DEFAULT_PEER_RATE } from './limits.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import type { PeerLeader } from './peer-leader.ts';
import { KeyedRateLimiter, type RateLimit } from './rate-limiter.ts';
import { addWorkloadRoutes, WORKLOAD_PATHS, type WorkloadRouteOptions } from './workload-routes.ts';

export interface CoordinatorServerOptions {
  host: string;
  port: number;
  /**
   * The serving certificate: PEM text, or files re-read when they change (a renewed Secret is
   * served without a restart, as the webhook's is).
   */
  tls: { cert: string; key: string } | { certFile: string; keyFile: string; reloadIntervalMs?: number };
  authenticator: Authenticator;
  /** The Coordinator while this replica leads, else undefined. */
  coordinator: () => Coordinator | undefined;
  /** This process's identity (POST /v1/coordinator/attest, served while leading); absent: 503. */
  identity?: () => CoordinatorIdentity | undefined;
  /** POST /v1/coordinator/attest per client address. Default DEFAULT_CLIENT_ATTEST_RATE. */
  clientAttestRate?: RateLimit;
  /** Peer recovery: who may ask (the operator's service account) and the leader's side; absent: those paths are not served. */
  peers?: { authenticator: PeerAuthenticator; leader: () => PeerLeader | undefined; rate?: RateLimit };
  /** The workload paths (`attestor init`, /v1/workload/...); absent: not served. */
  workloads?: WorkloadRouteOptions;
  log: Logger;
  metrics?: CoordinatorMetrics;
}

export interface CoordinatorServer {
  readonly port: number;
  close(): Promise<void>;
}

/** What the authentication step leaves for the handlers. */
interface Caller {
  node: string;
  coordinator: Coordinator;
}

export async function startCoordinatorServer(options: CoordinatorServerOptions): Promise<CoordinatorServer> {
  const app = express();
  app.disable('x-powered-by');
  // Label values from a fixed set: anybody can request any path.
  const paths = new Set<string>([
    NONCE_PATH,
    ATTEST_PATH,
    ACTIVATE_PATH,
    WATCH_PATH,
    JWKS_PATH,
    COORDINATOR_ATTEST_PATH,
    PEER_NONCE_PATH,
    PEER_RECOVER_PATH,
    ...WORKLOAD_PATHS,
  ]);
  app.use((req, res, next) => {
    res.on('finish', () =>
      options.metrics?.requests.inc({ path: paths.has(req.path) ? req.path : 'other', code: String(res.statusCode) }),
    );
    next();
  });

  const leader = (): Coordinator => {
    const c = options.coordinator();
    if (!c) throw new CoordinatorError(503, 'this replica is not the leader; retry', 1);
    return c;
  };
  /** Leader, caller, rate: in this order, and all before the body is read. */
  const agent = (kind: 'request' | 'watch'): RequestHandler =>
    wrap(async (req, res) => {
      const coordinator = leader();
      const caller = await options.authenticator.authenticate(req.header('authorization'));
      if (!caller.ok) throw new CoordinatorError(caller.status, caller.reason);
      coordinator.admit(caller.node, kind);
      res.locals.caller = { node: caller.node, coordinator } satisfies Caller;
    }, true);
  const body = (limit: number) => express.json({ limit });
  const caller = (res: Response): Caller => res.locals.caller as Caller;

  // Anyone may ask the Coordinator to prove itself: the leader answers, each address at its own rate.
  const clients = new KeyedRateLimiter(options.clientAttestRate ?? DEFAULT_CLIENT_ATTEST_RATE);
  app.post(
    COORDINATOR_ATTEST_PATH,
    wrap(async (req, _res) => {
      leader();
      const decision = clients.take(req.socket.remoteAddress ?? 'unknown', new Date());
      if (!decision.allowed) {
        options.metrics?.rateLimited.inc({ kind: 'coordinator-attest' });
        throw new CoordinatorError(
          429,
          'too many attestation requests from this address; retry later',
          Math.ceil(decision.retryAfterMs / 1000),
        );
      }
    }, true),
    body(MAX_COORDINATOR_ATTEST_BODY_BYTES),
    wrap(async (req, res) => {
      const identity = options.identity?.();
      if (!identity) throw new CoordinatorError(503, 'this operator does not serve the Coordinator identity');
      const request = decodeCoordinatorAttestRequest(req.body);
      if ('error' in request) throw new CoordinatorError(400, `[coordinator.request] ${request.error}`);
      res.json(await identity.attest(request.nonce));
    }),
  );

  // The operator's other replicas ask the leader for its identity (peer-leader.ts).
  const peers = options.peers;
  if (peers) {
    const peerRate = new KeyedRateLimiter(peers.rate ?? DEFAULT_PEER_RATE);
    /** Leader, caller, rate: in this order, and all before the body is read. */
    const peerLeader = (): PeerLeader => {
      leader();
      const p = peers.leader();
      if (!p) throw new CoordinatorError(503, 'the Coordinator identity is not made yet; retry', 1);
      return p;
    };
    const peer = wrap(async (req, res) => {
      peerLeader();
      const caller = await peers.authenticator.authenticatePeer(req.header('authorization'));
      if (!caller.ok) throw new CoordinatorError(caller.status, caller.reason);
      const decision = peerRate.take(caller.caller, new Date());
      if (!decision.allowed) {
        options.metrics?.rateLimited.inc({ kind: 'peer' });
        throw new CoordinatorError(
          429,
          'too many peer recovery requests; retry later',
          Math.ceil(decision.retryAfterMs / 1000),
        );
      }
      res.locals.peer = caller.caller;
    }, true);
    app.post(
      PEER_NONCE_PATH,
      peer,
      body(MAX_PEER_NONCE_BODY_BYTES),
      wrap(async (_req, res) => {
        res.json(peerLeader().issueNonce(res.locals.peer as string));
      }),
    );
    app.post(
      PEER_RECOVER_PATH,
      peer,
      body(MAX_PEER_RECOVER_BODY_BYTES),
      wrap(async (req, res) => {
        res.json(await peerLeader().recover(res.locals.peer as string, req.body));
      }),
    );
  }

  app.get(JWKS_PATH, (_req, res) => {
    res.json(leader().jwks);
  });
  app.post(
    NONCE_PATH,
    agent('request'),
    body(MAX_NONCE_BODY_BYTES),
    wrap(async (_req, res) => {
      const { node, coordinator } = caller(res);
      res.json(coordinator.issueNonce(node));
    }),
  );
  app.post(
    ATTEST_PATH,
    agent('request'),
    body(MAX_EVIDENCE_BODY_BYTES),
    wrap(async (req, res) => {
      const { node, coordinator } = caller(res);
      const result = await coordinator.attest(node, req.body);
      res.status(result.accepted ? 200 : 403).json(result);
    }),
  );
  app.post(
    ACTIVATE_PATH,
    agent('request'),
    body(MAX_ACTIVATION_BODY_BYTES),
    wrap(async (req, res) => {
      const { node, coordinator } = caller(res);
      if (typeof req.body?.report !== 'string')
        throw new CoordinatorError(400, '[coordinator.request] expected {"report": "<compact JWS>"}');
      const result = await coordinator.activate(node, req.body.report);
      res.status(result.activated ? 200 : 403).json(result);
    }),
  );
  app.get(
    WATCH_PATH,
    agent('watch'),
    wrap(async (req, res) => {
      const { node, coordinator } = caller(res);
      const known = typeof req.query.manifest === 'string' ? req.query.manifest : '';
      if (!/^[0-9a-f]{64}$/.test(known))
        throw new CoordinatorError(
          400,
          '[coordinator.request] expected ?manifest=<the Manifest hash the agent attested under>',
        );
      const asked = Number(req.query.timeoutSeconds ?? MAX_WATCH_SECONDS);
      const seconds = Number.isFinite(asked) ? Math.min(MAX_WATCH_SECONDS, Math.max(1, asked)) : MAX_WATCH_SECONDS;
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      const answer = await coordinator.watch(node, known, seconds * 1000, gone.signal);
      if (!gone.signal.aborted) res.json(answer);
    }),
  );
  if (options.workloads) addWorkloadRoutes(app, options.workloads);
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof CoordinatorError) {
      if (err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.retryAfterSeconds));
      res.status(err.status).json({ error: err.message });
      return;
    }
    const e = err as { status?: number; type?: string; message?: string };
    const status = e.type === 'entity.too.large' ? 413 : e.status === 400 ? 400 : 500;
    if (status === 500) options.log.error({ err: e.message }, 'coordinator request failed');
    res.status(status).json({ error: status === 500 ? 'internal error' : `[coordinator.request] ${e.message}` });
  });

  const tls = options.tls;
  const certificates = 'certFile' in tls ? new CertificateReloader(tls.certFile, tls.keyFile, options.log) : undefined;
  const { cert, key } = certificates?.current ?? (tls as { cert: string; key: string });
  const server: Server = createServer({ cert, key, minVersion: 'TLSv1.2' }, app);
  // A client gets this long to send its headers and body (a long poll's answer is not bounded by it).
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  if (certificates && 'certFile' in tls)
    certificates.start(
      (pair) => server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }),
      tls.reloadIntervalMs ?? DEFAULT_CERT_RELOAD_INTERVAL_MS,
    );
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        certificates?.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** An async handler; `middleware` ones hand on to the next on success. */
function wrap(handler: (req: Request, res: Response) => Promise<void>, middleware = false): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    handler(req, res).then(() => (middleware ? next() : undefined), next);
  };
}
