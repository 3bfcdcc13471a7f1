/** The status code of a GET (0 when it cannot connect or takes over 2 s): how the harness sees a component is ready. */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpsClientOptions {
  /** CA that must have signed the server's certificate; with rejectUnauthorized false, any certificate goes. */
  ca: string;
  rejectUnauthorized: boolean;
  /** Client certificate and key (PEM). */
  cert?: string;
  key?: string;
}

export function httpStatus(url: string, tls?: HttpsClientOptions): Promise<number> {
  return new Promise((resolveStatus) => {
    const u = new URL(url);
    const onResponse = (res: IncomingMessage) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    };
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, { ...tls, timeout: 2000 }, onResponse)
        : httpRequest(u, { timeout: 2000 }, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveStatus(0));
    req.end();
  });
}
