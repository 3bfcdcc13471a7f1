// The agent trusts a renewed serving CA without a restart: its CoordinatorClient re-reads the CA
// file before each request (the chart mounts it from a ConfigMap or cert-manager's Secret, which
// the kubelet updates in place), and keeps the CA it has while the file is unreadable or garbled.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinatorClient } from '../../../src/agent/coordinator-client.ts';
import { createCertificateAuthority, issueCertificate, type KeyAndCertificate } from '../../../src/tls/certificates.ts';

describe('agent CoordinatorClient with a CA file', function () {
  let dir: string;
  let server: Server;
  let url: string;
  const cas: { ca: KeyAndCertificate; serving: KeyAndCertificate }[] = [];
  const caFile = () => join(dir, 'ca.crt');
  const serveFrom = (i: number) =>
    server.setSecureContext({ cert: cas[i]!.serving.certificatePem, key: cas[i]!.serving.privateKeyPem });

  before(async function () {
    for (const name of ['first serving CA', 'renewed serving CA']) {
      const ca = await createCertificateAuthority(name);
      cas.push({
        ca,
        serving: await issueCertificate(ca, { commonName: 'coordinator', usage: 'server', ipAddresses: ['127.0.0.1'] }),
      });
    }
    dir = mkdtempSync(join(tmpdir(), 'attestor-client-ca-'));
    server = createServer({ cert: cas[0]!.serving.certificatePem, key: cas[0]!.serving.privateKeyPem }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async function () {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows the CA file: after the serving certificate and the file change, the same client connects, and it refuses the old CA', async () => {
    writeFileSync(caFile(), cas[0]!.ca.certificatePem);
    const client = new CoordinatorClient(url, { file: caFile() }, async () => 'token');
    try {
      assert.deepEqual(await client.get('/x'), { ok: true });
      // The server moves to the renewed CA first: the client still trusts only the first one.
      serveFrom(1);
      server.closeAllConnections();
      await assert.rejects(client.get('/x'), /certificate/i);
      writeFileSync(caFile(), cas[1]!.ca.certificatePem);
      assert.deepEqual(await client.get('/x'), { ok: true });
      // A garbled or missing file keeps the renewed CA.
      writeFileSync(caFile(), 'not a certificate');
      server.closeAllConnections();
      assert.deepEqual(await client.get('/x'), { ok: true });
      rmSync(caFile());
      assert.deepEqual(await client.get('/x'), { ok: true });
    } finally {
      serveFrom(0);
      await client.close();
    }
  });

  it('with PEM text keeps that CA for good', async () => {
    const client = new CoordinatorClient(url, cas[0]!.ca.certificatePem, async () => 'token');
    try {
      assert.deepEqual(await client.get('/x'), { ok: true });
    } finally {
      await client.close();
    }
  });
});
