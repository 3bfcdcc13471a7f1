/**
 * Installs and removes the webhook configurations that configuration.ts builds: `attestor dev`
 * and the tests install them on a local control plane (the Helm chart renders the same builders).
 */
import * as k8s from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../errors.ts';
import {
  DEFAULT_CONFIGURATION_NAME,
  type WebhookConfigurationOptions,
  webhookConfigurations,
} from './configuration.ts';

/** Creates or replaces both configurations. */
export async function installWebhookConfigurations(
  kubeConfig: k8s.KubeConfig,
  options: WebhookConfigurationOptions,
): Promise<void> {
  const api = kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  const { validating, mutating } = webhookConfigurations(options);
  const name = validating.metadata!.name!;
  await createOrReplace(
    () => api.createValidatingWebhookConfiguration({ body: validating }),
    async () => {
      const current = await api.readValidatingWebhookConfiguration({ name });
      await api.replaceValidatingWebhookConfiguration({
        name,
        body: {
          ...validating,
          metadata: { ...validating.metadata, resourceVersion: current.metadata!.resourceVersion },
        },
      });
    },
  );
  await createOrReplace(
    () => api.createMutatingWebhookConfiguration({ body: mutating }),
    async () => {
      const current = await api.readMutatingWebhookConfiguration({ name });
      await api.replaceMutatingWebhookConfiguration({
        name,
        body: { ...mutating, metadata: { ...mutating.metadata, resourceVersion: current.metadata!.resourceVersion } },
      });
    },
  );
}

/** Deletes both configurations (absent ones are fine). */
export async function deleteWebhookConfigurations(
  kubeConfig: k8s.KubeConfig,
  name = DEFAULT_CONFIGURATION_NAME,
): Promise<void> {
  const api = kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  const ignoreMissing = (err: unknown) => {
    if (!isNotFound(err)) throw err;
  };
  await api.deleteValidatingWebhookConfiguration({ name }).catch(ignoreMissing);
  await api.deleteMutatingWebhookConfiguration({ name }).catch(ignoreMissing);
}

async function createOrReplace(create: () => Promise<unknown>, replace: () => Promise<void>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!isConflict(err)) throw err;
    await replace();
  }
}
