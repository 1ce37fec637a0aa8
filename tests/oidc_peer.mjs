// The peer of the OAuth benchmark: node-oidc-provider (npm `oidc-provider`) with its in-memory
// adapter and one confidential client that gets tokens by the client-credentials grant and
// introspects them. Usage: node tests/oidc_peer.mjs PORT (run from a directory where
// oidc-provider is installed; tests/bench.sh does that).
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 3100);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'bench',
      client_secret: 'bench-secret-that-is-long-enough-for-hs256',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
  },
  scopes: ['api:read'],
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on http://127.0.0.1:${port}`);
});
