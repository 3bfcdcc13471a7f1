/**
 * `attestor manifest hash|sign|owner`: what a Manifest's owners do with the file, before the
 * cluster sees it. The hash is the one status.hash will show (schema defaults applied, as the API
 * server stores the spec); the signature goes into the successor's annotation
 * attestor.dev/signature. Exit 0, or 2 for unusable input.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { Command } from 'commander';
import { ManifestDocumentError, readManifestDocument } from '../api/manifest-document.ts';
import { ownerKeyOf, SIGNATURE_ANNOTATION, signingAlg, signSuccessor } from '../api/manifest-signature.ts';
import { errorMessage } from '../errors.ts';
import { EXIT_UNUSABLE, readText, UnusableInput } from './verify/output.ts';

type Write = (s: string) => void;
const stdout: Write = (s) => process.stdout.write(s);
const stderr: Write = (s) => process.stderr.write(s);

/** The canonical hash of the Manifest in a file. */
export function manifestFileHash(path: string): string {
  try {
    return readManifestDocument(readText(path)).hash;
  } catch (err) {
    if (err instanceof ManifestDocumentError) throw new UnusableInput(`${path}: ${err.message}`);
    throw err;
  }
}

/** A key file: a JWK (JSON) or PEM (PKCS#8, SEC1 or SPKI); private when `needPrivate`. */
export function readKeyFile(path: string, needPrivate: boolean): KeyObject {
  const text = readText(path).trim();
  let key: KeyObject;
  try {
    if (text.startsWith('{')) {
      const jwk = JSON.parse(text) as Record<string, unknown>;
      key =
        jwk.d !== undefined
          ? createPrivateKey({ key: jwk, format: 'jwk' })
          : createPublicKey({ key: jwk, format: 'jwk' });
    } else {
      key = /PRIVATE KEY-----/.test(text) ? createPrivateKey(text) : createPublicKey(text);
    }
  } catch (err) {
    throw new UnusableInput(`${path}: not a JWK or PEM key: ${errorMessage(err)}`);
  }
  if (!signingAlg(key)) throw new UnusableInput(`${path}: owner keys are EC P-256, EC P-384 or Ed25519`);
  if (needPrivate && key.type !== 'private') throw new UnusableInput(`${path}: signing needs the private key`);
  return key;
}

/** `--replaces`: a canonical hash, or the file of the Manifest being replaced. */
function replacedHash(value: string): string {
  return /^[0-9a-f]{64}$/.test(value) ? value : manifestFileHash(value);
}

async function run(command: string, err: Write, body: () => Promise<void> | void): Promise<number> {
  try {
    await body();
    return 0;
  } catch (e) {
    if (!(e instanceof UnusableInput)) throw e;
    err(`attestor manifest ${command}: ${e.message}\n`);
    return EXIT_UNUSABLE;
  }
}

export function runManifestHash(opts: { manifest: string }, out: Write = stdout, err: Write = stderr): Promise<number> {
  return run('hash', err, () => out(`${manifestFileHash(opts.manifest)}\n`));
}

export function runManifestSign(
  opts: { manifest: string; key: string; replaces: string },
  out: Write = stdout,
  err: Write = stderr,
): Promise<number> {
  return run('sign', err, async () => {
    const key = readKeyFile(opts.key, true);
    const transition = { hash: manifestFileHash(opts.manifest), replaces: replacedHash(opts.replaces) };
    out(`${await signSuccessor(key, transition)}\n`);
  });
}

export function runManifestOwner(
  opts: { key: string; name?: string },
  out: Write = stdout,
  err: Write = stderr,
): Promise<number> {
  return run('owner', err, () => out(`${JSON.stringify(ownerKeyOf(readKeyFile(opts.key, false), opts.name))}\n`));
}

export function manifestCommand(): Command {
  const manifest = new Command('manifest').description(
    'what Manifest owners do with the file: its hash, signatures for successors, owner entries (exit 0, 2 unusable input)',
  );
  manifest
    .command('hash')
    .description(
      'print the canonical hash of a Manifest file: the one status.hash shows once applied (schema defaults included), that clients pin',
    )
    .requiredOption('--manifest <file>', 'the Manifest YAML as it will be applied')
    .action(async (opts: { manifest: string }) => {
      process.exitCode = await runManifestHash(opts);
    });
  manifest
    .command('sign')
    .description(
      `print an owner's signature approving a successor Manifest: a detached JWS over its hash, naming the hash of the Manifest it replaces; put it in the successor's annotation ${SIGNATURE_ANNOTATION} (several signatures: one per line)`,
    )
    .requiredOption('--manifest <file>', 'the successor Manifest YAML')
    .requiredOption(
      '--key <file>',
      'the private key of an owner listed in the Manifest being replaced: JWK or PEM, EC P-256, EC P-384 or Ed25519',
    )
    .requiredOption(
      '--replaces <hash|file>',
      'the Manifest being replaced: its canonical hash (status.hash), or its YAML file; rolling back names the Manifest rolled back from',
    )
    .action(async (opts: { manifest: string; key: string; replaces: string }) => {
      process.exitCode = await runManifestSign(opts);
    });
  manifest
    .command('owner')
    .description('print the spec.owners entry (public JWK) for a key: JWK or PEM, private or public')
    .requiredOption('--key <file>', 'the owner key')
    .option('--name <name>', 'who holds the key, shown in status and events')
    .action(async (opts: { key: string; name?: string }) => {
      process.exitCode = await runManifestOwner(opts);
    });
  return manifest;
}
