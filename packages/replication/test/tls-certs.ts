/**
 * Certificates for the TLS tests, made in process (selfsigned, on WebCrypto) so CI needs no
 * openssl: a cluster CA, a node certificate it signs (for 127.0.0.1, server and client use),
 * and an outsider signed by another CA.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import selfsigned from 'selfsigned';

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly outsiderCertFile: string;
  readonly outsiderKeyFile: string;
  /** A node certificate of the cluster CA for the service name SERVICE_NAME only: no address. */
  readonly serviceCertFile: string;
  readonly serviceKeyFile: string;
}

/** The one name serviceCertFile carries (as a certificate for a Kubernetes Service would). */
export const SERVICE_NAME = 'gateways.test';

async function authority(name: string) {
  return selfsigned.generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
}

/** A subject alternative name as selfsigned takes it (its type is not exported): 2 a DNS name, 7 an IP address. */
type AltName = { readonly type: 2; readonly value: string } | { readonly type: 7; readonly ip: string };

const LOOPBACK_NAMES: AltName[] = [
  { type: 7, ip: '127.0.0.1' },
  { type: 2, value: 'localhost' },
];

async function leaf(name: string, ca: { private: string; cert: string }, altNames: AltName[] = LOOPBACK_NAMES) {
  return selfsigned.generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...altNames],
      },
    ],
  });
}

/** Writes the PEM files into a fresh temporary directory (the caller removes it). */
export async function makeTestPki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'meshcache-tls-'));
  const ca = await authority('meshcache test cluster CA');
  const node = await leaf('meshcache node', ca);
  const otherCa = await authority('someone else');
  const outsider = await leaf('outsider', otherCa);
  const service = await leaf('meshcache service', ca, [{ type: 2, value: SERVICE_NAME }]);
  const write = (name: string, pem: string) => {
    const path = join(dir, name);
    writeFileSync(path, pem);
    return path;
  };
  return {
    dir,
    caFile: write('ca.pem', ca.cert),
    certFile: write('node.pem', node.cert),
    keyFile: write('node-key.pem', node.private),
    outsiderCertFile: write('outsider.pem', outsider.cert),
    outsiderKeyFile: write('outsider-key.pem', outsider.private),
    serviceCertFile: write('service.pem', service.cert),
    serviceKeyFile: write('service-key.pem', service.private),
  };
}
