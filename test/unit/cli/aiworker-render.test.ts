// `attestor aiworker render`: the pod spec genpolicy must see is exactly the one the AIWorker
// controller creates (attestor init at its pinned digest included), and unusable input is exit 2.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import { runAIWorkerRender } from '../../../src/cli/aiworker.ts';
import { desiredDeployment } from '../../../src/controllers/aiworker/workload.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';

const INIT_IMAGE = `registry.example/attestor@sha256:${'ab'.repeat(32)}`;
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('attestor aiworker render', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aiworker-render-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, CA);
  after(() => rmSync(dir, { recursive: true, force: true }));
  const sample = join(projectRoot, 'samples', 'aiworker.yaml');

  it("prints the sample AIWorker's Deployment with the pod spec the controller builds, attestor init first", async () => {
    let out = '';
    const code = await runAIWorkerRender(
      { file: sample, initImage: INIT_IMAGE, coordinatorUrl: 'https://c.example:8443', coordinatorCaFile: caFile },
      (s) => {
        out += s;
      },
    );
    assert.equal(code, 0);
    const rendered = yaml.load(out) as k8s.V1Deployment;
    const worker = (yaml.loadAll(readFileSync(sample, 'utf8')) as AIWorker[]).find((d) => d.kind === 'AIWorker')!;
    const expected = desiredDeployment(worker, { document: '', hash: '' }, 2, {
      initImage: INIT_IMAGE,
      coordinatorUrl: 'https://c.example:8443',
      coordinatorCaPem: CA,
    });
    assert.deepEqual(rendered.spec!.template.spec, JSON.parse(JSON.stringify(expected.spec!.template.spec)));
    const init = rendered.spec!.template.spec!.initContainers![0]!;
    assert.equal(init.name, 'attestor-init');
    assert.equal(init.image, INIT_IMAGE);
    assert.equal(rendered.spec!.template.metadata!.annotations, undefined, 'genpolicy writes the policy');
  });

  it('prints the attestor init --renew and attestor worker-proxy sidecars after attestor init (genpolicy must allow them), naming the secret service given', async () => {
    let out = '';
    const secretServiceUrl = 'https://secret-service.attestor-system.svc:8443';
    const code = await runAIWorkerRender(
      {
        file: sample,
        initImage: INIT_IMAGE,
        coordinatorUrl: 'https://c.example:8443',
        coordinatorCaFile: caFile,
        secretServiceUrl,
      },
      (s) => {
        out += s;
      },
    );
    assert.equal(code, 0);
    const pod = (yaml.load(out) as k8s.V1Deployment).spec!.template.spec!;
    assert.deepEqual(
      pod.initContainers!.map((c) => [c.name, c.image, c.restartPolicy]),
      [
        ['attestor-init', INIT_IMAGE, undefined],
        ['attestor-renew', INIT_IMAGE, 'Always'],
        ['attestor-worker-proxy', INIT_IMAGE, 'Always'],
      ],
    );
    assert.equal(pod.initContainers![1]!.args!.at(-1), '--renew');
    const args = pod.initContainers![2]!.args!;
    assert.ok(args.includes(`--secret-service=${secretServiceUrl}`), args.join(' '));
    const modelPort = pod.containers[0]!.ports![0]!.containerPort;
    assert.ok(args.includes(`--upstream=http://127.0.0.1:${modelPort}`), args.join(' '));
  });

  it('prints a confidential-node AIWorker with attestor init --confidential-node when given an init image, and without it otherwise, as the operator builds them', async () => {
    const worker = (yaml.loadAll(readFileSync(sample, 'utf8')) as AIWorker[]).find((d) => d.kind === 'AIWorker')!;
    const onNodes = { ...worker, spec: { ...worker.spec, deploymentModel: 'confidential-node' as const } };
    const file = join(dir, 'on-nodes.yaml');
    writeFileSync(file, yaml.dump(onNodes));
    for (const initImage of [INIT_IMAGE, undefined]) {
      let out = '';
      const code = await runAIWorkerRender(
        {
          file,
          ...(initImage ? { initImage } : {}),
          coordinatorUrl: 'https://c.example:8443',
          coordinatorCaFile: caFile,
        },
        (s) => {
          out += s;
        },
      );
      assert.equal(code, 0);
      const rendered = yaml.load(out) as k8s.V1Deployment;
      const expected = desiredDeployment(
        onNodes,
        { document: '', hash: '' },
        2,
        initImage ? { initImage, coordinatorUrl: 'https://c.example:8443', coordinatorCaPem: CA } : undefined,
      );
      assert.deepEqual(rendered.spec!.template.spec, JSON.parse(JSON.stringify(expected.spec!.template.spec)));
      const init = rendered.spec!.template.spec!.initContainers?.[0];
      if (initImage) assert.ok(init?.args?.includes('--confidential-node'));
      else assert.equal(init, undefined);
    }
  });

  it('is exit 2 for a pod-CVM AIWorker without --init-image, and for a file without an AIWorker', async () => {
    let err = '';
    const write = (s: string) => {
      err += s;
    };
    assert.equal(
      await runAIWorkerRender(
        { file: sample, coordinatorUrl: 'https://c', coordinatorCaFile: caFile },
        () => {},
        write,
      ),
      2,
    );
    assert.match(err, /--init-image \(pinned by digest\) is required/);
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, 'kind: ConfigMap\n');
    assert.equal(await runAIWorkerRender({ file: empty, coordinatorUrl: 'https://c' }, () => {}, write), 2);
    assert.match(err, /no AIWorker in it/);
  });
});
