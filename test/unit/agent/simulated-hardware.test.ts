// The development mode's simulated hardware (operator --development-roots) and its clients
// (agent and init --simulated-hardware): a malformed request is refused with every problem
// listed (checked with curl), and what a client gets is evidence bound to its REPORT_DATA or
// nonce, with its policy hash and one REPORT_ID per simulated launch.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { RemoteSimulatedCvmSource, RemoteSimulatedGpuControl } from '../../../src/agent/evidence/remote-simulated.ts';
import { createSimulatedPlatform, SIMULATED_POD_MEASUREMENT } from '../../../src/agent/evidence/simulated.ts';
import { parseSnpReport } from '../../../src/attestation/snp/report.ts';
import {
  type RunningSimulatedHardwareServer,
  startSimulatedHardwareServer,
} from '../../../src/dev/simulated-hardware-server.ts';
import { silentLogger } from '../../../src/observability/log.ts';

const POLICY_HASH = 'a10c2384ef9e82c8173fec3306712631a56d341c34e8dfd030c5654754b93d4f';

describe('simulated hardware (development mode)', function () {
  this.timeout(60_000);
  let server: RunningSimulatedHardwareServer;
  let url: string;
  before(async () => {
    server = await startSimulatedHardwareServer({
      host: '127.0.0.1',
      port: 0,
      platform: await createSimulatedPlatform(),
      log: silentLogger,
    });
    url = `http://127.0.0.1:${server.port}`;
  });
  after(() => server?.close());

  it('refuses a malformed CVM request with every problem listed', async () => {
    // curl asynchronously: the server runs in this process.
    const { stdout: out } = await promisify(execFile)(
      'curl',
      [
        '-sS',
        '-w',
        '\n%{http_code}',
        '-H',
        'content-type: application/json',
        '-d',
        '{"platform":"sgx","reportData":"AA=="}',
        `${url}/v1/simulated/cvm`,
      ],
      { encoding: 'utf8' },
    );
    assert.match(out, /\n400$/);
    for (const field of ['platform', 'policyHash', 'reportData', 'reportId'])
      assert.match(out, new RegExp(`${field}: `));
  });

  it('signs an SEV-SNP report bound to the REPORT_DATA, with the policy hash in HOST_DATA and one REPORT_ID per launch', async () => {
    const cvm = new RemoteSimulatedCvmSource(url, {
      platform: 'snp',
      policyHash: POLICY_HASH,
      measurement: SIMULATED_POD_MEASUREMENT,
    });
    const reportData = randomBytes(64);
    const evidence = await cvm.collect(reportData);
    const report = parseSnpReport(evidence.report);
    assert.deepEqual(Buffer.from(report.reportData), reportData);
    assert.equal(Buffer.from(report.hostData).toString('hex'), POLICY_HASH);
    assert.equal(Buffer.from(report.measurement).toString('hex'), SIMULATED_POD_MEASUREMENT);
    assert.equal(Buffer.from(report.reportId).toString('hex'), cvm.reportId);
    assert.ok(evidence.auxblob && evidence.auxblob.length > 0, 'the VCEK comes along');
    const again = parseSnpReport((await cvm.collect(randomBytes(64))).report);
    assert.equal(Buffer.from(again.reportId).toString('hex'), cvm.reportId, 'the same launch');
    const other = new RemoteSimulatedCvmSource(url, { platform: 'snp', policyHash: POLICY_HASH });
    assert.notEqual(other.reportId, cvm.reportId, 'another launch');
  });

  it('gives one GPU report per simulated GPU, each under its own UUID', async () => {
    const gpus = new RemoteSimulatedGpuControl(url, 2);
    const listed = await gpus.listGpus();
    const reports = await gpus.collect(randomBytes(32));
    assert.deepEqual(
      reports.map((r) => r.uuid),
      listed.map((g) => g.uuid),
    );
    assert.equal(new Set(listed.map((g) => g.uuid)).size, 2);
    for (const r of reports) {
      assert.ok(r.report.length > 0);
      assert.match(r.certificateChainPem, /-----BEGIN CERTIFICATE-----/);
    }
  });
});
