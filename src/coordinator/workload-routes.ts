/**
 * The workload paths of the Coordinator API (express), mounted by server.ts: leader, caller (the
 * pod's token, TokenReview), the pod's rate, and only then the body, with the agent paths' limits.
 * The WorkloadCoordinator decides; this maps its outcome to HTTP.
 */
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { MAX_COUNTERSIGN_BODY_BYTES, WORKLOAD_COUNTERSIGNED_PATH } from '../protocol/countersignature.ts';
import { MAX_ACTIVATION_BODY_BYTES, MAX_EVIDENCE_BODY_BYTES, MAX_NONCE_BODY_BYTES } from '../protocol/messages.ts';
import {
  WORKLOAD_ACTIVATE_PATH,
  WORKLOAD_ATTEST_PATH,
  WORKLOAD_JWKS_PATH,
  WORKLOAD_MESH_CA_PATH,
  WORKLOAD_NONCE_PATH,
} from '../protocol/workload.ts';
import { CoordinatorError } from './coordinator-error.ts';
import type { PodCaller, WorkloadAuthenticator } from './workload-auth.ts';
import type { WorkloadCoordinator } from './workloads.ts';

export const WORKLOAD_PATHS = [
  WORKLOAD_NONCE_PATH,
  WORKLOAD_ATTEST_PATH,
  WORKLOAD_ACTIVATE_PATH,
  WORKLOAD_MESH_CA_PATH,
  WORKLOAD_JWKS_PATH,
  WORKLOAD_COUNTERSIGNED_PATH,
] as const;

export interface WorkloadRouteOptions {
  authenticator: WorkloadAuthenticator;
  /** The workload side while this replica leads, else undefined (503). */
  workloads: () => WorkloadCoordinator | undefined;
}

interface Caller {
  pod: PodCaller;
  workloads: WorkloadCoordinator;
}

export function addWorkloadRoutes(app: Express, options: WorkloadRouteOptions): void {
  const leader = (): WorkloadCoordinator => {
    const w = options.workloads();
    if (!w) throw new CoordinatorError(503, 'this replica is not the leader; retry', 1);
    return w;
  };
  /** Leader, caller, rate: in this order, and all before the body is read. */
  const pod = (kind: 'request' | 'watch'): RequestHandler =>
    wrap(async (req, res) => {
      const workloads = leader();
      const caller = await options.authenticator.authenticate(req.header('authorization'));
      if (!caller.ok) throw new CoordinatorError(caller.status, caller.reason);
      const { ok: _ok, ...who } = caller;
      workloads.admit(who, kind);
      res.locals.workload = { pod: who, workloads } satisfies Caller;
    }, true);
  const body = (limit: number) => express.json({ limit });
  const caller = (res: Response): Caller => res.locals.workload as Caller;

  app.get(WORKLOAD_JWKS_PATH, (_req, res) => {
    res.json(leader().jwks);
  });
  app.get(
    WORKLOAD_MESH_CA_PATH,
    pod('watch'),
    wrap(async (_req, res) => {
      res.json(caller(res).workloads.meshCa());
    }),
  );
  app.post(
    WORKLOAD_NONCE_PATH,
    pod('request'),
    body(MAX_NONCE_BODY_BYTES),
    wrap(async (_req, res) => {
      const { pod: who, workloads } = caller(res);
      res.json(await workloads.issueNonce(who));
    }),
  );
  app.post(
    WORKLOAD_ATTEST_PATH,
    pod('request'),
    body(MAX_EVIDENCE_BODY_BYTES),
    wrap(async (req, res) => {
      const { pod: who, workloads } = caller(res);
      const result = await workloads.attest(who, req.body);
      res.status(result.accepted ? 200 : 403).json(result);
    }),
  );
  app.post(
    WORKLOAD_ACTIVATE_PATH,
    pod('request'),
    body(MAX_ACTIVATION_BODY_BYTES),
    wrap(async (req, res) => {
      const { pod: who, workloads } = caller(res);
      if (typeof req.body?.report !== 'string')
        throw new CoordinatorError(400, '[coordinator.request] expected {"report": "<compact JWS>"}');
      const result = await workloads.activate(who, req.body.report);
      res.status(result.certified ? 200 : 403).json(result);
    }),
  );
  app.post(
    WORKLOAD_COUNTERSIGNED_PATH,
    pod('request'),
    body(MAX_COUNTERSIGN_BODY_BYTES),
    wrap(async (req, res) => {
      const { pod: who, workloads } = caller(res);
      const result = await workloads.certifyOnNode(who, req.body);
      res.status(result.certified ? 200 : 403).json(result);
    }),
  );
}

/** An async handler; `middleware` ones hand on to the next on success. */
function wrap(handler: (req: Request, res: Response) => Promise<void>, middleware = false): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    handler(req, res).then(() => (middleware ? next() : undefined), next);
  };
}
