// Mocha root hooks: stop the shared control plane after the whole run, even when tests failed.
import { stopSharedControlPlane } from './cluster.ts';

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopSharedControlPlane();
  },
};
