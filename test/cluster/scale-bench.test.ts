// `npm run bench -- scale` at a small size: it runs end to end on its own control plane (the
// operator in a process of its own, every pod's `attestor init` simulated) and its last line has
// the documented form, with numbers that make sense for the run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../bench/scale.bench.ts', import.meta.url));
const LAST_LINE =
  /^scale: (\d+) nodes (\d+) aiworkers converged in (\d+(?:\.\d+)?) s, rss (\d+) MB, (\d+(?:\.\d+)?) writes per aiworker$/;

function runBench(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BENCH], { env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('npm run bench -- scale (small size)', function () {
  it('attests every node, converges every AIWorker, and ends with the scale: line', async function () {
    this.timeout(400_000);
    const { code, output } = await runBench({
      SCALE_NODES: '3',
      SCALE_AIWORKERS: '4',
      SCALE_NAMESPACES: '2',
      SCALE_IDLE_SECONDS: '3',
      SCALE_TIMEOUT_SECONDS: '240',
    });
    assert.equal(code, 0, output);
    const lines = output.trim().split('\n');
    const match = LAST_LINE.exec(lines.at(-1)!);
    assert.ok(match, `last line has the documented form: ${lines.at(-1)}`);
    const [, nodes, aiworkers, seconds, rss, writes] = match;
    assert.equal(Number(nodes), 3);
    assert.equal(Number(aiworkers), 4);
    assert.ok(Number(seconds) > 0 && Number(seconds) < 240, `converged in ${seconds} s`);
    assert.ok(Number(rss) > 50 && Number(rss) < 4096, `rss ${rss} MB`);
    // A Deployment, a Service and a NetworkPolicy apply, status writes as the Deployment progresses
    // (two to four, with the timing), the namespace marks shared out, and the status write that
    // counts the replica attested.
    assert.ok(Number(writes) >= 4 && Number(writes) <= 10, `${writes} writes per aiworker`);
    // Every pod's `attestor init --confidential-node` got its certificate, and every AIWorker was
    // Ready (Available) after it; the Coordinator recorded each certificate on its pod.
    assert.match(
      output,
      /\| certifying: every AIWorker Ready \(Available\).* \| \d+\.\d \| .*\(4 pod inits certified\) \|$/m,
    );
    assert.match(output, /certifying phase \d+ by controllers and 4 by the Coordinator \(certificate annotations\)/);
    // The operator process read the GPUs' OCSP answers from its collateral cache (signed beforehand).
    const answers = /, (\d+) OCSP answers signed into the operator's collateral cache;/.exec(output);
    assert.ok(answers && Number(answers[1]) > 0, 'OCSP answers signed beforehand');
    // The operator ran in its own process: its peak RSS and CPU are reported, and the last line's
    // rss is that process's, a plausible size for a Node process running the operator.
    const own =
      /^operator process \(pid (\d+)\): peak RSS (\d+) MB until converged, (\d+) MB in all; CPU (\d+\.\d) s until converged \((\d+\.\d) s of it starting up\), (\d+\.\d) s in all$/m.exec(
        output,
      );
    assert.ok(own, 'the operator process line');
    assert.notEqual(Number(own[1]), 0);
    assert.equal(Number(own[2]), Number(rss), 'the last line reports the operator process peak RSS at convergence');
    assert.ok(Number(own[3]) >= Number(own[2]));
    assert.ok(
      Number(own[4]) > Number(own[5]) && Number(own[6]) >= Number(own[4]),
      'CPU grows from start-up to convergence to the end',
    );
    assert.match(output, /idle 3 s 0$/m, 'no operator writes while idle');
    assert.match(output, /\| re-appraisal of every node after a Manifest change \| \d+\.\d \|/);
    assert.match(output, /webhook .*: \d+ calls, p50 <= \d+ ms, p99 <= \d+ ms/);
  });
});
