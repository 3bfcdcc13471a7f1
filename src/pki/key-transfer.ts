/**
 * The key that carries CA keys from one Coordinator replica to another (peer recovery): each side
 * makes an ephemeral ECDH P-256 key pair, whose public key its CVM evidence binds in REPORT_DATA;
 * both derive the same AES-256-GCM key from the ECDH secret with HKDF-SHA-256, salted with both
 * public keys, and CertificateAuthority.seal / unseal wrap and unwrap the CA keys under it.
 *
 * All of it is WebCrypto: the ECDH private key and the derived key are non-extractable, and the
 * shared secret goes from ECDH into HKDF without becoming a JS value. Why not HPKE: this needs no
 * dependency, and wrapKey keeps the CA key's bytes out of JS memory too; what it gives up is
 * post-quantum key agreement (docs/pending/recovery.md).
 */
import { createHash, webcrypto } from 'node:crypto';
import { jwkToSpki } from '../protocol/evidence-request.ts';
import type { PeerPublicKey } from '../protocol/peer-recovery.ts';

type CryptoKey = webcrypto.CryptoKey;

const ECDH = { name: 'ECDH', namedCurve: 'P-256' } as const;
/** HKDF info: the protocol and its version. */
const INFO = new TextEncoder().encode('attestor peer recovery v1: CA key transfer');

export class TransferKeyPair {
  readonly #privateKey: CryptoKey;
  /** The public key (JWK), sent to the peer. */
  readonly publicJwk: PeerPublicKey;
  /** Its SPKI DER, what REPORT_DATA binds. */
  readonly spki: Uint8Array;

  private constructor(privateKey: CryptoKey, publicJwk: PeerPublicKey, spki: Uint8Array) {
    this.#privateKey = privateKey;
    this.publicJwk = publicJwk;
    this.spki = spki;
  }

  /** A fresh pair for one transfer; the private key is non-extractable. */
  static async generate(): Promise<TransferKeyPair> {
    const pair = (await webcrypto.subtle.generateKey(ECDH, false, ['deriveKey'])) as webcrypto.CryptoKeyPair;
    const jwk = await webcrypto.subtle.exportKey('jwk', pair.publicKey);
    const spki = new Uint8Array(await webcrypto.subtle.exportKey('spki', pair.publicKey));
    return new TransferKeyPair(pair.privateKey, { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! }, spki);
  }

  /**
   * The AES-256-GCM key both sides derive: HKDF-SHA-256 over the ECDH secret with this pair and
   * the peer's public key, salted with SHA-256(requester SPKI ‖ responder SPKI), so that it is
   * bound to this exchange. `role` says which side this pair is; `info` names the protocol
   * (another protocol's transfer derives another key from the same pairs).
   */
  async transferKey(peer: PeerPublicKey, role: 'requester' | 'responder', info: Uint8Array = INFO): Promise<CryptoKey> {
    const peerKey = await webcrypto.subtle.importKey('jwk', { ...peer, ext: true }, ECDH, false, []);
    const peerSpki = jwkToSpki({ ...peer });
    const [requester, responder] = role === 'requester' ? [this.spki, peerSpki] : [peerSpki, this.spki];
    const salt = createHash('sha256').update(requester).update(responder).digest();
    const secret = await webcrypto.subtle.deriveKey(
      { name: 'ECDH', public: peerKey },
      this.#privateKey,
      'HKDF',
      false,
      ['deriveKey'],
    );
    return webcrypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt, info },
      secret,
      { name: 'AES-GCM', length: 256 },
      false,
      ['wrapKey', 'unwrapKey'],
    );
  }
}
