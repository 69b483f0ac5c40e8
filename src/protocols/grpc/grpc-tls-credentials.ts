import * as grpc from '@grpc/grpc-js';
import { secureContextOptions, type TlsFiles, type TlsMaterial } from '../../config/tls-material';

/**
 * grpc-js server credentials that carry the whole TLS policy (`minVersion`, `ciphers`) into the
 * secure context, like HTTPS. `ServerCredentials.createSsl` takes only certificate, key and CA,
 * and its cipher list comes from the `GRPC_SSL_CIPHER_SUITES` environment variable (node's
 * default list when unset): the configured `grpc.tls.ciphers` wins over both.
 */
export class GrpcTlsCredentials extends grpc.ServerCredentials {
  constructor(files: TlsFiles, material: TlsMaterial) {
    const options = secureContextOptions(files, material);
    // With a CA, clients must present a certificate it signed (node rejects the others).
    super({ requestCert: material.ca !== undefined, rejectUnauthorized: true, ciphers: options.ciphers, minVersion: options.minVersion }, options);
  }

  /** Two credentials are equal only if they are the same object (each one reads its own files). */
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
