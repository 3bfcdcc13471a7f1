// `attestor init --renew` starts as a native sidecar after the one-shot `attestor init` has written
// the certificate: it keeps that certificate until half-way through its life (no second
// attestation round at pod start), and renews at once when what is on the volume is not current.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readKey } from '../../../src/agent/certificate-files.ts';
import { renewalTime } from '../../../src/agent/workload-init.ts';
import { meshCa, workerVolume } from '../proxy/chain-fixture.ts';

describe('when the renewal sidecar renews the certificate it finds on the volume (renewalTime)', () => {
  it('half-way through the life of a current certificate for the key on the volume, signed by the mesh CA beside it', async () => {
    const mesh = await meshCa();
    const volume = await workerVolume(mesh);
    try {
      const key = (await readKey(volume.dir))!;
      const { validFrom, validTo } = new X509Certificate(volume.cert);
      const from = Date.parse(validFrom);
      const to = Date.parse(validTo);
      const at = await renewalTime(volume.cert, mesh.pem, key, new Date(from + 1000));
      assert.equal(at?.getTime(), from + (to - from) / 2);
    } finally {
      await volume.remove();
    }
  });

  it('at once (undefined) for an expired certificate, one for another key, or one another mesh CA signed', async () => {
    const mesh = await meshCa();
    const other = await meshCa();
    const volume = await workerVolume(mesh);
    const stranger = await workerVolume(mesh);
    try {
      const key = (await readKey(volume.dir))!;
      const to = Date.parse(new X509Certificate(volume.cert).validTo);
      assert.equal(await renewalTime(volume.cert, mesh.pem, key, new Date(to)), undefined, 'expired');
      assert.equal(await renewalTime(stranger.cert, mesh.pem, key, new Date()), undefined, 'another key');
      assert.equal(await renewalTime(volume.cert, other.pem, key, new Date()), undefined, 'another mesh CA');
      assert.ok(await renewalTime(volume.cert, mesh.pem, key, new Date()), 'the control: current');
    } finally {
      await volume.remove();
      await stranger.remove();
    }
  });
});
