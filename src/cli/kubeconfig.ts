/** Loads the Kubernetes client configuration the way kubectl users expect. */
import * as k8s from '@kubernetes/client-node';

/** --kubeconfig, else $KUBECONFIG, else in-cluster, else ~/.kube/config. */
export function loadKubeConfig(path: string | undefined): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster())
    throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
  return kc;
}
