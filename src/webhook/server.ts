/**
 * The admission webhook's HTTPS server (express): AdmissionReview v1 in, AdmissionReview v1 out,
 * one path per webhook (/validate-pods, /mutate-pods, /validate-gpu-pods, /validate-bindings).
 * It only moves bytes: decoding, metrics, the serving certificate and client authentication; the
 * answers come from admission.ts. With a client CA, only clients that present a certificate it
 * signed get past the TLS handshake (the API server presents one through its
 * AdmissionConfiguration): nobody else learns anything from the webhooks, e.g. whether a pod
 * exists. A body that is not an AdmissionReview gets HTTP 400, and anything that goes
 * wrong while judging is a refusal (the configurations say failurePolicy: Fail as well).
 *
 * Mount it in the operator with:
 *   const webhook = await startWebhookServer({ port: 9443, tls: { certFile, keyFile },
 *     clientAuth: { caFile },
 *     manifests: informers.manifests, nodeAttestations: informers.nodeAttestations,
 *     pods: kubeConfig.makeApiClient(k8s.CoreV1Api),
 *     log, metrics: new WebhookMetrics(metrics.registry) });
 * Every replica serves it (not only the leader): the informers are warm on all of them.
 */

import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../observability/log.ts';
import { CertificateReloader, DEFAULT_CERT_RELOAD_INTERVAL_MS } from '../tls/certificate-reloader.ts';
import {
  type AdmissionOutcome,
  createAdmissionHandlers,
  type ManifestSource,
  type NodeAttestationSource,
  type PodReader,
  WEBHOOK_NAMES,
  type WebhookName,
} from './admission.ts';
import type { WebhookMetrics } from './metrics.ts';
import { parseAdmissionReview, reviewResponse } from './review.ts';

/** An UPDATE review carries the object twice, each up to etcd's 1.5 MiB: room for both. */
export const DEFAULT_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

export interface WebhookOptions {
  /** Default 0.0.0.0. */
  host?: string;
  /** 0: any free port (see the returned port). */
  port: number;
  /** PEM files of the serving certificate and key, re-read when they change. */
  tls: { certFile: string; keyFile: string; reloadIntervalMs?: number };
  /**
   * Who may call: clients with a certificate signed by a CA in `caFile` (PEM, re-read when it
   * changes), or 'none' for anyone (only where the API server cannot present a client
   * certificate, and in tests of other layers).
   */
  clientAuth: { caFile: string } | 'none';
  manifests: ManifestSource;
  nodeAttestations: NodeAttestationSource;
  /** Reads bound pods (a CoreV1Api). */
  pods: PodReader;
  /** Resource-name prefixes that count as GPUs (default: gpu-requests.ts). */
  gpuResourcePrefixes?: readonly string[];
  now?: () => Date;
  log: Logger;
  metrics?: WebhookMetrics;
  bodyLimitBytes?: number;
}

export interface WebhookServer {
  readonly port: number;
  /** Undefined when the caches the webhooks judge from are synced, else why not (for /readyz). */
  notReady(): string | undefined;
  close(): Promise<void>;
}

export async function startWebhookServer(options: WebhookOptions): Promise<WebhookServer> {
  const log = options.log.child({ component: 'webhook' });
  const handlers = createAdmissionHandlers({
    manifests: options.manifests,
    nodeAttestations: options.nodeAttestations,
    pods: options.pods,
    ...(options.gpuResourcePrefixes ? { gpuResourcePrefixes: options.gpuResourcePrefixes } : {}),
    now: options.now ?? (() => new Date()),
    log,
  });
  const metrics = options.metrics;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });

  const json = express.json({ limit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES });
  for (const webhook of WEBHOOK_NAMES) {
    app.post(`/${webhook}`, instrument(webhook, metrics), json, async (req: Request, res: Response) => {
      const parsed = parseAdmissionReview(req.body);
      if (!parsed.ok) {
        res.status(400).json({ error: parsed.error });
        return;
      }
      const judgement = await handlers[webhook](parsed.request);
      res.locals.outcome = judgement.outcome;
      res.json(reviewResponse(judgement.response));
    });
  }
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    const status =
      e.type === 'entity.too.large'
        ? 413
        : typeof e.status === 'number' && e.status >= 400 && e.status < 500
          ? e.status
          : 500;
    if (status === 500) log.error({ err: e.message }, 'webhook request failed');
    res.status(status).json({ error: status === 500 ? 'internal error' : e.message });
  });

  const clientCaFile = options.clientAuth === 'none' ? undefined : options.clientAuth.caFile;
  const certificates = new CertificateReloader(options.tls.certFile, options.tls.keyFile, log, clientCaFile);
  // Without a client certificate from the CA the handshake fails: no HTTP request is ever read.
  const clientAuth = clientCaFile ? { requestCert: true, rejectUnauthorized: true } : {};
  const server: Server = createServer({ ...certificates.current, ...clientAuth, minVersion: 'TLSv1.2' }, app);
  // The API server (Go) keeps connections idle for up to 90 s and does not retry a POST that
  // met a connection we closed: outlive its idle timeout so that we are never the one closing.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  certificates.start(
    (pair) => server.setSecureContext({ ...pair, minVersion: 'TLSv1.2' }),
    options.tls.reloadIntervalMs ?? DEFAULT_CERT_RELOAD_INTERVAL_MS,
  );
  const port = (server.address() as AddressInfo).port;
  if (clientCaFile)
    log.info({ port, clientCaFile }, 'serving admission webhooks to clients with a certificate from the client CA');
  else log.warn({ port }, 'serving admission webhooks to any client: no client CA configured');
  return {
    port,
    notReady: () => {
      if (!options.manifests.synced) return 'Manifest cache not synced';
      if (!options.nodeAttestations.synced) return 'NodeAttestation cache not synced';
      return undefined;
    },
    close: () =>
      new Promise((resolve) => {
        certificates.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Counts, times and gauges each request; the outcome is "error" unless the handler set one. */
function instrument(webhook: WebhookName, metrics: WebhookMetrics | undefined) {
  return (_req: Request, res: Response, next: NextFunction) => {
    if (!metrics) {
      next();
      return;
    }
    const stop = metrics.duration.startTimer({ webhook });
    metrics.inFlight.inc({ webhook });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      stop();
      metrics.inFlight.dec({ webhook });
      metrics.requests.inc({ webhook, verdict: (res.locals.outcome as AdmissionOutcome | undefined) ?? 'error' });
    };
    res.on('finish', finish);
    res.on('close', finish);
    next();
  };
}
