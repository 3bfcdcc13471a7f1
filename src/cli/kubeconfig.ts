/** Loads the Kubernetes client configuration the way kubectl users expect. */
import * as k8s from '@kubernetes/client-node';
import { errorMessage } from '../errors.ts';
import { oneLine, UnusableInput } from './errors.ts';

/** --kubeconfig, else $KUBECONFIG, else in-cluster, else ~/.kube/config. */
export function loadKubeConfig(path: string | undefined): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new UnusableInput(
      `${path ? `--kubeconfig ${path}` : 'the kubeconfig'}: ${oneLine(errorMessage(err).split('\n')[0])}`,
    );
  }
  if (!kc.getCurrentCluster())
    throw new UnusableInput(
      path
        ? `--kubeconfig ${path}: no current context with a cluster`
        : 'no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a cluster',
    );
  return kc;
}
