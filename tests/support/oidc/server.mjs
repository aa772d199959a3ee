#!/usr/bin/env node
// A real, strict OAuth 2 authorization server for claude-keyring's tests,
// built on oidc-provider (v9) and adapted to the Claude-style protocol that
// the agent speaks (JSON token bodies, Claude's endpoint paths, a manual
// "code#state" page, a profile endpoint).
//
//   node server.mjs --port-file FILE [--client-id ID] [--access-ttl SECONDS]
//
// Listens on 127.0.0.1, port 0; writes the port to FILE once listening; runs
// until killed. Logs "METHOD /path STATUS" lines to stderr, never query
// strings, bodies or tokens. Nothing is written to stdout. See README.md.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import Provider, { errors as oidcErrors } from 'oidc-provider';

// oidc-provider prints its notices with console.info (stdout): keep stdout
// clean, everything goes to stderr.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

const USAGE = 'usage: server.mjs --port-file FILE [--client-id ID] [--access-ttl SECONDS]';

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      'port-file': { type: 'string' },
      'client-id': { type: 'string', default: 'ck-test-client' },
      'access-ttl': { type: 'string', default: '3600' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.error(USAGE);
  process.exit(0);
}
if (!opts['port-file']) {
  console.error(USAGE);
  process.exit(2);
}
const ACCESS_TTL = Number(opts['access-ttl']);
if (!Number.isSafeInteger(ACCESS_TTL) || ACCESS_TTL <= 0) {
  console.error('--access-ttl must be a positive integer (seconds)');
  process.exit(2);
}
const CLIENT_ID = opts['client-id'];
const PORT_FILE = opts['port-file'];

// The scopes Claude's authorize endpoint hands out. They are not OpenID
// Connect scopes: they belong to one resource server (RESOURCE below), which
// every request gets by default, so access tokens carry them.
const SCOPES = [
  'user:profile',
  'user:inference',
  'user:sessions:claude_code',
  'user:mcp_servers',
  'user:file_upload',
  'org:create_api_key',
];
const RESOURCE = 'https://api.oidc-test.invalid/';

const ROUTES = {
  authorization: '/oauth/authorize',
  token: '/v1/oauth/token',
  revocation: '/v1/oauth/revoke',
  // Unused but given distinct paths under /oidc so they collide with nothing.
  jwks: '/oidc/jwks',
  userinfo: '/oidc/me',
  end_session: '/oidc/session/end',
  introspection: '/oidc/token/introspection',
};
const MANUAL_CALLBACK_PATH = '/oauth/code/callback';
const PROFILE_PATH = '/api/oauth/profile';
const STATS_PATH = '/test/stats';
const INTERACTION_PREFIX = '/interaction/';

// One fixed test user and organization (made-up identifiers).
const ACCOUNT_ID = 'oidc-user';
const ACCOUNT = {
  uuid: '0c1d0000-0000-4000-8000-00000000a001',
  email: 'oidc-user@example.org',
  display_name: 'OIDC User',
};
const ORGANIZATION = {
  uuid: '0c1d0000-0000-4000-8000-00000000b001',
  name: 'OIDC Test Org',
  organization_type: 'claude_pro',
  rate_limit_tier: 'default',
};

const stats = {
  authorize: 0,
  interactions: 0,
  token_requests: { authorization_code: 0, refresh_token: 0, other: 0 },
  token_success: { authorization_code: 0, refresh_token: 0, other: 0 },
  token_errors: {},
  json_bodies: 0,
  form_bodies: 0,
  refreshes: 0,
  refresh_failures: 0,
  revocations: 0,
  profile: { ok: 0, unauthorized: 0 },
  manual_page: 0,
};

function log(line) {
  process.stderr.write(`oidc-server: ${line}\n`);
}

function sendJson(res, status, obj, extraHeaders = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...extraHeaders,
  });
  res.end(body);
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    'Cache-Control': 'no-store',
  });
  res.end(html);
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---------------------------------------------------------------------------
// The provider

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const ISSUER = `http://127.0.0.1:${port}`;

// A fresh signing key per run (only used should an ID token ever be issued;
// the access tokens are opaque).
const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ format: 'jwk' });

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: CLIENT_ID,
    client_name: 'claude-keyring test client',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // Native client: for http loopback redirect URIs any port matches.
    redirect_uris: [
      'http://localhost/callback',
      'http://127.0.0.1/callback',
      `http://localhost${MANUAL_CALLBACK_PATH}`,
      `http://127.0.0.1${MANUAL_CALLBACK_PATH}`,
    ],
  }],
  jwks: { keys: [{ ...signingKey, use: 'sig', kid: 'test-key-1' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  routes: ROUTES,
  // Everything runs on one machine: an expired access token is expired at
  // once (the default tolerates 15 s of clock skew).
  clockTolerance: 0,
  responseTypes: ['code'],
  scopes: ['openid', 'offline_access'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: false },
    introspection: { enabled: false },
    revocation: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
    },
    resourceIndicators: {
      enabled: true,
      // Every request (authorize, code and refresh grants) gets RESOURCE,
      // whose scopes are the Claude ones above.
      defaultResource: async (ctx, client, oneOf) => (oneOf ? oneOf[0] : RESOURCE),
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) {
          throw new oidcErrors.InvalidTarget();
        }
        return {
          scope: SCOPES.join(' '),
          accessTokenFormat: 'opaque',
          accessTokenTTL: ACCESS_TTL,
        };
      },
    },
  },
  // No offline_access is asked for, yet always hand out a refresh token and
  // keep tokens independent of the browser session.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  // Rotate on every use; reusing a rotated refresh token is detected by the
  // provider, which revokes the whole grant and answers invalid_grant.
  rotateRefreshToken: () => true,
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, email: ACCOUNT.email, name: ACCOUNT.display_name }),
  }),
  clientBasedCORS: () => false,
  interactions: {
    url: async (ctx, interaction) => `${INTERACTION_PREFIX}${interaction.uid}`,
  },
  ttl: {
    AccessToken: ACCESS_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 86400,
    Grant: 30 * 86400,
    RefreshToken: 30 * 86400,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><title>OAuth error</title></head><body>
<h1>OAuth error</h1><p id="error">${escapeHtml(out.error)}</p>
<p id="error_description">${escapeHtml(out.error_description ?? '')}</p></body></html>`;
  },
});

// Counters, and the Claude-style extras on token replies.
provider.use(async (ctx, next) => {
  await next();
  const route = ctx.oidc?.route;
  if (route === 'token') {
    const gt = ctx.oidc?.params?.grant_type;
    const key = gt === 'authorization_code' || gt === 'refresh_token' ? gt : 'other';
    stats.token_requests[key] += 1;
    if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.access_token) {
      stats.token_success[key] += 1;
      if (key === 'refresh_token') stats.refreshes += 1;
      ctx.body = {
        ...ctx.body,
        account: { uuid: ACCOUNT.uuid, email_address: ACCOUNT.email },
        organization: { uuid: ORGANIZATION.uuid, name: ORGANIZATION.name },
      };
    } else {
      const err = (ctx.body && typeof ctx.body === 'object' && ctx.body.error) || `http_${ctx.status}`;
      stats.token_errors[err] = (stats.token_errors[err] ?? 0) + 1;
      if (key === 'refresh_token') stats.refresh_failures += 1;
    }
  } else if (route === 'revocation' && ctx.status === 200) {
    stats.revocations += 1;
  } else if (route === 'authorization') {
    stats.authorize += 1;
  }
});

provider.on('server_error', (ctx, err) => log(`server_error: ${err.name}: ${err.message}`));

const providerCallback = provider.callback();

// ---------------------------------------------------------------------------
// Non-provider routes

// No human: log the fixed account in, then grant everything that was asked.
async function handleInteraction(req, res) {
  stats.interactions += 1;
  try {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    if (prompt.name === 'login') {
      await provider.interactionFinished(req, res, {
        login: { accountId: ACCOUNT_ID },
      }, { mergeWithLastSubmission: false });
      return;
    }
    if (prompt.name === 'consent') {
      let grant;
      if (details.grantId) {
        grant = await provider.Grant.find(details.grantId);
      }
      if (!grant) {
        grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      }
      const d = prompt.details ?? {};
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, {
        consent: { grantId },
      }, { mergeWithLastSubmission: true });
      return;
    }
    sendHtml(res, 400, `<!DOCTYPE html><p>unsupported prompt ${escapeHtml(prompt.name)}</p>`);
  } catch (err) {
    log(`interaction failed: ${err.name}: ${err.message}`);
    if (!res.headersSent) {
      sendHtml(res, 400, `<!DOCTYPE html><p id="error">${escapeHtml(err.name)}: ${escapeHtml(err.message)}</p>`);
    }
  }
}

// Claude's manual page: shows "CODE#STATE" for the user to paste.
function handleManualCallback(url, res) {
  stats.manual_page += 1;
  const code = url.searchParams.get('code');
  const state = url.searchParams.get('state') ?? '';
  if (!code) {
    const error = url.searchParams.get('error') ?? 'missing code';
    sendHtml(res, 400, `<!DOCTYPE html><html><head><title>Authorization failed</title></head>
<body><h1>Authorization failed</h1><p id="error">${escapeHtml(error)}</p></body></html>`);
    return;
  }
  sendHtml(res, 200, `<!DOCTYPE html><html><head><title>Authentication Code</title></head>
<body><h1>Authentication Code</h1>
<p>Paste this into Claude Code:</p>
<div><code id="code">${escapeHtml(`${code}#${state}`)}</code></div>
</body></html>`);
}

async function handleProfile(req, res) {
  const m = /^Bearer ([^\s]+)$/.exec(req.headers.authorization ?? '');
  const token = m ? await provider.AccessToken.find(m[1]) : undefined;
  if (!token || !token.accountId) {
    stats.profile.unauthorized += 1;
    sendJson(res, 401, {
      type: 'error',
      error: { type: 'authentication_error', message: 'Invalid bearer token' },
    }, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    return;
  }
  if (!token.scopes.has('user:profile')) {
    stats.profile.unauthorized += 1;
    sendJson(res, 403, {
      type: 'error',
      error: { type: 'permission_error', message: 'missing scope user:profile' },
    });
    return;
  }
  stats.profile.ok += 1;
  sendJson(res, 200, { account: { ...ACCOUNT }, organization: { ...ORGANIZATION } });
}

// Claude's token and revoke endpoints take JSON; the provider takes only
// application/x-www-form-urlencoded. Convert, then let the provider validate
// everything. "state" (sent by Claude-style clients in the code exchange) is
// not a token-endpoint parameter and is dropped.
async function adaptJsonBody(req, res) {
  let obj;
  try {
    obj = JSON.parse(await readBody(req));
  } catch {
    sendJson(res, 400, { error: 'invalid_request', error_description: 'malformed JSON body' });
    return false;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    sendJson(res, 400, { error: 'invalid_request', error_description: 'JSON body must be an object' });
    return false;
  }
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'state' || value === null || value === undefined) continue;
    if (typeof value === 'object') {
      sendJson(res, 400, { error: 'invalid_request', error_description: `parameter ${key} must be a string` });
      return false;
    }
    form.append(key, String(value));
  }
  const encoded = form.toString();
  req.headers['content-type'] = 'application/x-www-form-urlencoded';
  req.headers['content-length'] = String(Buffer.byteLength(encoded));
  delete req.headers['transfer-encoding'];
  // oidc-provider reads an already consumed body from req.body (it warns
  // once about an "upstream middleware parser").
  req.body = encoded;
  return true;
}

server.on('request', async (req, res) => {
  let url;
  try {
    url = new URL(req.url, ISSUER);
  } catch {
    sendJson(res, 400, { error: 'invalid_request' });
    return;
  }
  const { pathname } = url;
  res.on('finish', () => log(`${req.method} ${pathname} ${res.statusCode}`));

  try {
    if (req.method === 'GET' && pathname.startsWith(INTERACTION_PREFIX)) {
      await handleInteraction(req, res);
      return;
    }
    if (req.method === 'GET' && pathname === MANUAL_CALLBACK_PATH) {
      handleManualCallback(url, res);
      return;
    }
    if (req.method === 'GET' && pathname === PROFILE_PATH) {
      await handleProfile(req, res);
      return;
    }
    if (req.method === 'GET' && pathname === STATS_PATH) {
      sendJson(res, 200, stats);
      return;
    }
    if (req.method === 'POST' && (pathname === ROUTES.token || pathname === ROUTES.revocation)) {
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type === 'application/json') {
        stats.json_bodies += 1;
        if (!(await adaptJsonBody(req, res))) return;
      } else {
        stats.form_bodies += 1;
      }
    }
    await providerCallback(req, res);
  } catch (err) {
    log(`request failed: ${err.name}: ${err.message}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.destroy();
  }
});

// Port file: written atomically once listening.
const tmp = path.join(path.dirname(PORT_FILE), `.${path.basename(PORT_FILE)}.${process.pid}`);
fs.writeFileSync(tmp, `${port}\n`);
fs.renameSync(tmp, PORT_FILE);
log(`listening on ${ISSUER} (client_id ${CLIENT_ID}, access token ttl ${ACCESS_TTL}s)`);

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
