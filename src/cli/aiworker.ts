/**
 * `attestor aiworker render -f aiworker.yaml`: prints the Deployment the AIWorker controller
 * applies for each AIWorker in the file, with the pod template exactly as the operator builds it
 * (`attestor init` at its pinned digest, its token and certificate volumes, the Coordinator's CA),
 * so that the owners can run genpolicy over it: a pod-CVM pod's Kata policy must allow the whole
 * pod, or Kata refuses to start it. The policy annotations are left out (genpolicy writes the
 * policy; its hash is what the Manifest lists). Exit 0, or 2 for unusable input.
 */
import { Command } from 'commander';
import * as yaml from 'js-yaml';
import type { AIWorker } from '../api/aiworker.ts';
import { KATA_POLICY_ANNOTATION, POLICY_HASH_ANNOTATION } from '../api/aiworker-labels.ts';
import { aiWorkerModel } from '../api/deployment-model.ts';
import { desiredDeployment } from '../controllers/aiworker/workload.ts';
import { errorMessage } from '../errors.ts';
import { EXIT_UNUSABLE, readText, UnusableInput } from './verify/output.ts';

type Write = (s: string) => void;

export interface RenderOptions {
  file: string;
  initImage?: string;
  coordinatorUrl: string;
  secretServiceUrl?: string;
  coordinatorCaFile?: string;
}

export const DEFAULT_RENDER_COORDINATOR_URL = 'https://attestor-coordinator.attestor-system.svc:8443';

/** The Deployments (YAML, one document each) for the AIWorkers in the file. */
export function renderAIWorkers(opts: RenderOptions): string {
  let documents: unknown[];
  try {
    documents = yaml.loadAll(readText(opts.file));
  } catch (err) {
    if (err instanceof UnusableInput) throw err;
    throw new UnusableInput(`${opts.file}: not YAML: ${errorMessage(err)}`);
  }
  const workers = documents.filter(
    (d): d is AIWorker => typeof d === 'object' && d !== null && (d as { kind?: unknown }).kind === 'AIWorker',
  );
  if (workers.length === 0) throw new UnusableInput(`${opts.file}: no AIWorker in it`);
  const rendered: string[] = [];
  for (const worker of workers) {
    const name = worker.metadata?.name;
    if (!name || !worker.spec) throw new UnusableInput(`${opts.file}: an AIWorker without metadata.name or spec`);
    const podCvm = aiWorkerModel(worker.spec) === 'pod-cvm';
    // As the operator: pod-CVM pods always start with attestor init, confidential-node pods when it has an init image.
    const withInit = podCvm || opts.initImage !== undefined;
    if (podCvm && !opts.initImage)
      throw new UnusableInput(`AIWorker ${name} uses the pod-cvm model: --init-image (pinned by digest) is required`);
    if (withInit && !opts.coordinatorCaFile)
      throw new UnusableInput(
        `AIWorker ${name}: attestor init (${podCvm ? 'the pod-cvm model' : '--init-image'}) needs --coordinator-ca-file`,
      );
    const namespaced = {
      ...worker,
      metadata: { ...worker.metadata, namespace: worker.metadata.namespace ?? 'default' },
    };
    const deployment = desiredDeployment(
      namespaced,
      { document: '', hash: '' },
      worker.spec.replicas ?? 1,
      withInit
        ? {
            initImage: opts.initImage!,
            coordinatorUrl: opts.coordinatorUrl,
            coordinatorCaPem: readText(opts.coordinatorCaFile!),
            ...(opts.secretServiceUrl ? { secretServiceUrl: opts.secretServiceUrl } : {}),
          }
        : undefined,
    );
    delete deployment.metadata!.ownerReferences;
    const annotations = deployment.spec!.template.metadata!.annotations!;
    delete annotations[KATA_POLICY_ANNOTATION];
    delete annotations[POLICY_HASH_ANNOTATION];
    if (Object.keys(annotations).length === 0) delete deployment.spec!.template.metadata!.annotations;
    rendered.push(yaml.dump(deployment, { noRefs: true, lineWidth: -1 }));
  }
  return rendered.join('---\n');
}

export async function runAIWorkerRender(
  opts: RenderOptions,
  out: Write = (s) => process.stdout.write(s),
  err: Write = (s) => process.stderr.write(s),
): Promise<number> {
  try {
    out(renderAIWorkers(opts));
    return 0;
  } catch (e) {
    if (!(e instanceof UnusableInput)) throw e;
    err(`attestor aiworker render: ${e.message}\n`);
    return EXIT_UNUSABLE;
  }
}

export function aiWorkerCommand(): Command {
  const command = new Command('aiworker').description(
    'what AIWorker owners do with the file before the cluster sees it',
  );
  command
    .command('render')
    .description(
      "print the Deployment the operator creates for each AIWorker in the file, its pod exactly as the operator builds it (attestor init and the attestor worker-proxy sidecar included): run genpolicy over it, and list the policy's hash in the Manifest (exit 0, 2 unusable input)",
    )
    .requiredOption('-f, --file <file>', 'the AIWorker YAML (other documents in it are ignored)')
    .option('--init-image <image>', "attestor init's image as the operator has it (its --init-image), pinned by digest")
    .option(
      '--coordinator-url <url>',
      "the Coordinator as pods reach it (the operator's --workload-coordinator-url)",
      DEFAULT_RENDER_COORDINATOR_URL,
    )
    .option(
      '--coordinator-ca-file <file>',
      "the CA of the Coordinator's serving certificate (the operator's --workload-coordinator-ca-file)",
    )
    .option(
      '--secret-service-url <url>',
      "the secret service as pods reach it (the operator's --secret-service-url), the worker-proxy sidecar's --secret-service",
    )
    .action(async (opts: RenderOptions) => {
      process.exitCode = await runAIWorkerRender(opts);
    });
  return command;
}
