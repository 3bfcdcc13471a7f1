// The nextUpdate of each piece of expiring collateral, as the collateral expiry gauge reports it:
// read from Intel's real samples and compared with what openssl reads from the same CRLs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createGpuSimulator } from '../../../src/attestation/sim/gpu.ts';
import { collateralNextUpdates } from '../../../src/collateral/next-updates.ts';
import { vectorPath } from './fixtures.ts';

/** openssl's reading of a CRL's nextUpdate and issuer CN. */
function opensslCrl(path: string): { nextUpdate: Date; cn: string } {
  const out = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', path, '-noout', '-nextupdate', '-issuer'], {
    encoding: 'utf8',
  });
  return {
    nextUpdate: new Date(/nextUpdate=(.*)/.exec(out)![1]!),
    cn: /issuer=.*?CN ?= ?([^,\n]+)/.exec(out)![1]!.trim(),
  };
}

describe('collateral nextUpdate', () => {
  it("reads the nextUpdate of Intel's TCB info, QE identity, PCK CRL and root CA CRL, as openssl reads the CRLs", () => {
    const dir = 'tdx/collateral';
    const found = collateralNextUpdates({
      tdx: {
        tcbInfo: readFileSync(vectorPath(`${dir}/sample_tcbInfo_response`), 'utf8'),
        qeIdentity: readFileSync(vectorPath(`${dir}/sample_qeIdentity_response`), 'utf8'),
        pckCrl: readFileSync(vectorPath(`${dir}/pckcrl`)),
        rootCrl: readFileSync(vectorPath(`${dir}/rootcrl.der`)),
      },
    });
    const pck = opensslCrl(vectorPath(`${dir}/pckcrl`));
    const root = opensslCrl(vectorPath(`${dir}/rootcrl.der`));
    assert.deepEqual(found, [
      { kind: 'tdx-tcb-info', item: '50806f000000', nextUpdate: new Date('2023-07-18T08:42:58Z') },
      { kind: 'tdx-qe-identity', item: 'TD_QE', nextUpdate: new Date('2023-07-08T07:24:59Z') },
      { kind: 'tdx-pck-crl', item: pck.cn, nextUpdate: pck.nextUpdate },
      { kind: 'tdx-root-crl', item: root.cn, nextUpdate: root.nextUpdate },
    ]);
    assert.equal(pck.cn, 'Intel SGX PCK Platform CA');
  });

  it('reads the nextUpdate of an OCSP answer, named by the serial of the certificate it is about (as openssl writes it)', async () => {
    const sim = await createGpuSimulator();
    const gpu = await sim.gpu('GPU-1', { nonce: new Uint8Array(32) });
    const nextUpdate = new Date('2031-02-03T04:05:06Z');
    const answer = sim.ocsp(gpu, 1, 'good', { thisUpdate: new Date('2030-01-01T00:00:00Z'), nextUpdate });
    const serial = new X509Certificate(gpu.certificatesDer[1]!).serialNumber;
    assert.deepEqual(collateralNextUpdates({ gpu: { ocsp: [answer, { der: answer }] } }), [
      { kind: 'nvidia-ocsp', item: serial, nextUpdate },
      { kind: 'nvidia-ocsp', item: serial, nextUpdate },
    ]);
  });

  it('skips what does not parse: the verifier reports it', () => {
    assert.deepEqual(
      collateralNextUpdates({
        snp: { crl: new Uint8Array([1, 2, 3]) },
        tdx: { tcbInfo: '{"tcbInfo":{}}', qeIdentity: 'not json' },
        gpu: { ocsp: [new Uint8Array([0x30, 0])] },
      }),
      [],
    );
  });
});
