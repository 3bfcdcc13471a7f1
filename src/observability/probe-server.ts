/**
 * The HTTP endpoint every long-running attestor process serves: /healthz (the process is alive),
 * /readyz (its dependencies are ready: informers synced and watching) and /metrics (Prometheus).
 */

import express from 'express';
import type { Registry } from 'prom-client';
import { listenHttp } from '../http-server.ts';

export interface ReadinessCheck {
  name: string;
  /** Undefined when ready, else why not. */
  check: () => string | undefined;
}

export interface ProbeServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startProbeServer(options: {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => ReadinessCheck[];
}): Promise<ProbeServer> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const failing = options
      .readiness()
      .map((c) => ({ name: c.name, reason: c.check() }))
      .filter((c) => c.reason !== undefined);
    if (failing.length === 0) {
      res.type('text/plain').send('ok');
      return;
    }
    res
      .status(503)
      .type('text/plain')
      .send(failing.map((c) => `[-] ${c.name}: ${c.reason}`).join('\n') + '\n');
  });
  app.get('/metrics', async (_req, res) => {
    res.type(options.registry.contentType).send(await options.registry.metrics());
  });
  return listenHttp(app, options.host, options.port);
}
