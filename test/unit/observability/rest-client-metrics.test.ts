// client-go's REST client metrics for a KubeConfig's clients: a real HTTP server answers (here
// over plain http, so the interceptor composes onto undici's global dispatcher), and a closed
// port gives client-go's "<error>" code.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { instrumentedKubeConfig, RestClientMetrics } from '../../../src/observability/rest-client-metrics.ts';
import { createCertificateAuthority, issueCertificate } from '../../../src/tls/certificates.ts';
import { value } from '../../harness/prometheus-text.ts';

function kubeConfigFor(server: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'not-a-secret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('REST client metrics (client-go names)', () => {
  let server: Server;
  let host: string;
  before(async () => {
    server = createServer((req, res) => {
      const missing = req.url?.includes('/namespaces/missing');
      res.writeHead(missing ? 404 : 200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          missing
            ? { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }
            : { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'present' } },
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('counts each request by code, method and host, and times it by verb and host', async () => {
    const registry = new Registry();
    const kc = instrumentedKubeConfig(kubeConfigFor(`http://${host}`), new RestClientMetrics(registry));
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.readNamespace({ name: 'present' });
    await core.readNamespace({ name: 'present' });
    await assert.rejects(core.readNamespace({ name: 'missing' }), (err: k8s.ApiException<unknown>) => err.code === 404);
    const text = await registry.metrics();
    assert.equal(value(text, 'rest_client_requests_total', { code: '200', method: 'GET', host }), 2);
    assert.equal(value(text, 'rest_client_requests_total', { code: '404', method: 'GET', host }), 1);
    assert.equal(value(text, 'rest_client_request_duration_seconds_count', { verb: 'GET', host }), 3);
  });

  it('counts a request that got no answer under code "<error>"', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const registry = new Registry();
    const kc = instrumentedKubeConfig(kubeConfigFor(`http://127.0.0.1:${port}`), new RestClientMetrics(registry));
    await assert.rejects(kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: 'present' }));
    const text = await registry.metrics();
    assert.equal(
      value(text, 'rest_client_requests_total', { code: '<error>', method: 'GET', host: `127.0.0.1:${port}` }),
      1,
    );
  });

  it('leaves the KubeConfig it copies alone', async () => {
    const registry = new Registry();
    const original = kubeConfigFor(`http://${host}`);
    instrumentedKubeConfig(original, new RestClientMetrics(registry));
    await original.makeApiClient(k8s.CoreV1Api).readNamespace({ name: 'present' });
    assert.equal(
      value(await registry.metrics(), 'rest_client_requests_total', { code: '200', method: 'GET', host }),
      undefined,
    );
  });

  it('reuses one TLS connection for successive requests, where client-node alone opens one per request', async () => {
    const ca = await createCertificateAuthority('rest client test CA');
    const serving = await issueCertificate(ca, { commonName: 'api', usage: 'server', ipAddresses: ['127.0.0.1'] });
    const tls = createHttpsServer({ cert: serving.certificatePem, key: serving.privateKeyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'present' } }));
    });
    let handshakes = 0;
    tls.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    try {
      const source = new k8s.KubeConfig();
      source.loadFromOptions({
        clusters: [
          {
            name: 'c',
            server: `https://127.0.0.1:${(tls.address() as AddressInfo).port}`,
            caData: Buffer.from(ca.certificatePem).toString('base64'),
          },
        ],
        users: [{ name: 'u', token: 'not-a-secret' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const pooled = instrumentedKubeConfig(source, new RestClientMetrics(new Registry())).makeApiClient(k8s.CoreV1Api);
      for (let i = 0; i < 10; i++) await pooled.readNamespace({ name: 'present' });
      // undici may open a second connection while the first is being handed back; never one per request.
      assert.ok(handshakes <= 2, `at most two connections for ten requests, not ${handshakes}`);
      const pooledHandshakes = handshakes;
      const plain = source.makeApiClient(k8s.CoreV1Api);
      for (let i = 0; i < 3; i++) await plain.readNamespace({ name: 'present' });
      assert.equal(handshakes - pooledHandshakes, 3, 'client-node by itself: a connection per request');
    } finally {
      tls.closeAllConnections();
      await new Promise<void>((resolve) => tls.close(() => resolve()));
    }
  });
});
