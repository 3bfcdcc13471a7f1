/** Installs attestor's CRDs into a cluster and waits until the API server serves them. */
import * as k8s from '@kubernetes/client-node';
import { crdFiles } from '../api/crd-yaml.ts';
import { crds } from '../api/crds.ts';
import { isNotFound } from '../errors.ts';
import { waitFor } from './wait.ts';

export async function installCrds(kubeConfig: k8s.KubeConfig): Promise<void> {
  const api = kubeConfig.makeApiClient(k8s.ApiextensionsV1Api);
  // The typed client serialises its models (xKubernetesValidations, _default, ...), so plain
  // wire-format JSON must be deserialised into them first or such fields are silently dropped.
  for (const text of crdFiles().values()) {
    const body = k8s.loadYaml<k8s.V1CustomResourceDefinition>(text);
    const crd = { metadata: { name: body.metadata!.name! } };
    try {
      const existing = await api.readCustomResourceDefinition({ name: crd.metadata.name });
      body.metadata = { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion };
      await api.replaceCustomResourceDefinition({ name: crd.metadata.name, body });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await api.createCustomResourceDefinition({ body });
    }
  }
  for (const crd of crds) {
    await waitFor(
      async () => {
        const current = await api.readCustomResourceDefinition({ name: crd.metadata.name });
        return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      },
      { timeoutMs: 30_000, description: `CRD ${crd.metadata.name} established` },
    );
  }
}
