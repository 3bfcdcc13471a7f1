/** Plain-HTTP express servers (probes, the agent's countersigning, development hardware): listen and close alike. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express, NextFunction, Request, Response } from 'express';

export interface ListeningHttpServer {
  /** The bound port (the one asked for, or the one the system chose for port 0). */
  port: number;
  /** Stops listening and ends open connections, keep-alive ones included. */
  close(): Promise<void>;
}

/** Starts `app` on host:port, resolving once it listens. */
export async function listenHttp(app: Express, host: string, port: number): Promise<ListeningHttpServer> {
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A body too large or not JSON: 413 or 400, as `{error}` like every other answer of a JSON API. */
export function jsonErrorHandler(
  err: { status?: number; message?: string },
  _req: Request,
  res: Response,
  _next: NextFunction,
) {
  res.status(err.status && err.status < 500 ? err.status : 400).json({ error: err.message ?? 'bad request' });
}
