// The serving certificate reloader: a new valid pair replaces the old one; a pair whose key does
// not match its certificate (a rotation half written) is never installed; a client CA file is
// re-read the same way, and one that holds no CA certificate is never installed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/observability/log.ts';
import { type CertificatePair, CertificateReloader } from '../../../src/tls/certificate-reloader.ts';
import { createCertificateAuthority, issueCertificate, type KeyAndCertificate } from '../../../src/tls/certificates.ts';

describe('serving certificate reloader (webhook, Coordinator API)', function () {
  let dir: string;
  let first: KeyAndCertificate;
  let second: KeyAndCertificate;
  const certFile = () => join(dir, 'tls.crt');
  const keyFile = () => join(dir, 'tls.key');
  const write = (cert: string, key: string) => {
    writeFileSync(certFile(), cert);
    writeFileSync(keyFile(), key);
  };

  before(async function () {
    const ca = await createCertificateAuthority('reloader test CA');
    first = await issueCertificate(ca, { commonName: 'one', usage: 'server', ipAddresses: ['127.0.0.1'] });
    second = await issueCertificate(ca, { commonName: 'two', usage: 'server', ipAddresses: ['127.0.0.1'] });
  });
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'attestor-reloader-'));
    write(first.certificatePem, first.privateKeyPem);
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs a new valid pair once, and nothing while the files stay the same', async function () {
    const reloader = new CertificateReloader(certFile(), keyFile(), silentLogger);
    const seen: CertificatePair[] = [];
    await reloader.check((p) => seen.push(p));
    assert.equal(seen.length, 0);
    write(second.certificatePem, second.privateKeyPem);
    await reloader.check((p) => seen.push(p));
    await reloader.check((p) => seen.push(p));
    assert.deepEqual(seen, [{ cert: second.certificatePem, key: second.privateKeyPem }]);
    assert.equal(reloader.current.cert, second.certificatePem);
  });

  it('keeps the current pair while the new certificate and key do not match', async function () {
    const reloader = new CertificateReloader(certFile(), keyFile(), silentLogger);
    const seen: CertificatePair[] = [];
    writeFileSync(certFile(), second.certificatePem); // the key is still the first one
    await reloader.check((p) => seen.push(p));
    assert.equal(seen.length, 0);
    assert.equal(reloader.current.cert, first.certificatePem);
    writeFileSync(keyFile(), second.privateKeyPem);
    await reloader.check((p) => seen.push(p));
    assert.equal(seen.length, 1);
  });

  it('keeps the current pair when the files disappear', async function () {
    const reloader = new CertificateReloader(certFile(), keyFile(), silentLogger);
    rmSync(certFile());
    await reloader.check(() => assert.fail('must not reload'));
    assert.equal(reloader.current.cert, first.certificatePem);
  });

  it('refuses to start without a usable pair', function () {
    writeFileSync(keyFile(), second.privateKeyPem);
    assert.throws(() => new CertificateReloader(certFile(), keyFile(), silentLogger));
  });

  describe('with a client CA file', function () {
    let clientCa: KeyAndCertificate;
    let otherCa: KeyAndCertificate;
    const caFile = () => join(dir, 'client-ca.crt');
    before(async function () {
      clientCa = await createCertificateAuthority('client CA');
      otherCa = await createCertificateAuthority('other client CA');
    });

    it('installs a new client CA bundle with the pair', async function () {
      writeFileSync(caFile(), clientCa.certificatePem);
      const reloader = new CertificateReloader(certFile(), keyFile(), silentLogger, caFile());
      assert.equal(reloader.current.ca, clientCa.certificatePem);
      const seen: CertificatePair[] = [];
      writeFileSync(caFile(), clientCa.certificatePem + otherCa.certificatePem);
      await reloader.check((p) => seen.push(p));
      assert.deepEqual(seen, [
        { cert: first.certificatePem, key: first.privateKeyPem, ca: clientCa.certificatePem + otherCa.certificatePem },
      ]);
    });

    it('keeps the current client CA when the new file holds no CA certificate', async function () {
      writeFileSync(caFile(), clientCa.certificatePem);
      const reloader = new CertificateReloader(certFile(), keyFile(), silentLogger, caFile());
      for (const content of ['', 'not a certificate', first.certificatePem]) {
        writeFileSync(caFile(), content);
        await reloader.check(() => assert.fail(`must not install ${JSON.stringify(content.slice(0, 20))}`));
      }
      assert.equal(reloader.current.ca, clientCa.certificatePem);
    });

    it('refuses to start without a usable client CA (fail closed)', function () {
      writeFileSync(caFile(), '');
      assert.throws(() => new CertificateReloader(certFile(), keyFile(), silentLogger, caFile()), /no PEM certificate/);
      writeFileSync(caFile(), first.certificatePem);
      assert.throws(() => new CertificateReloader(certFile(), keyFile(), silentLogger, caFile()), /not a CA/);
    });
  });
});
