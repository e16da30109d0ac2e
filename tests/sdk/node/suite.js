'use strict';
// node suite: @alicloud/ecs20140526 7.11.6 (+ @alicloud/openapi-core 1.0.8) against a fresh
// ecs-mock, once with its default V3 signatures and once with signatureAlgorithm 'v2' (V1),
// plus the auth checks. The same cases as tests/sdk/py/cases.py, through the Node SDK's API,
// then every forced error of CreateKeyPair and the common gateway errors and the node section
// of docs/sdk-conformance.md (as tests/sdk/py/conformance.py does for the Python suites).
//
// Run: (cd tests/sdk/node && npm ci --ignore-scripts && node suite.js)   (after
// `cargo build --release`; ECS_MOCK_BIN overrides the binary). Prints one line per case and
// ends with `N passed, M failed`; exits 1 if any case failed.

const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const Ecs = require('@alicloud/ecs20140526');
const { $OpenApiUtil, ClientError, ServerError, ThrottlingError } = require('@alicloud/openapi-core');

const SDK_DIR = path.resolve(__dirname, '..');
const REPO = path.resolve(SDK_DIR, '..', '..');
const FIXTURES = path.join(SDK_DIR, 'fixtures.json');
const REGIONS_EN = JSON.parse(fs.readFileSync(path.join(SDK_DIR, 'regions_en.json'), 'utf8'));
const CONF = JSON.parse(fs.readFileSync(path.join(SDK_DIR, 'conformance.json'), 'utf8'));
const DOCUMENTED = JSON.parse(fs.readFileSync(path.join(SDK_DIR, 'documented_errors.json'), 'utf8'));
const ERRORS_DIR = path.join(REPO, 'scenarios', 'errors');
const DOC = path.join(REPO, 'docs', 'sdk-conformance.md');
const SECTIONS = ['py-v2', 'py-legacy', 'node'];
const REGION = 'cn-hangzhou';
const SECRET = 'mock-secret';
const SEED = 8;

const FIXTURE_GROUPS = ['rg-sdkfixturegroupa', 'rg-sdkfixturegroupb'];
const LINUX_RUNNING = 'i-sdkfx0000linux001';
const LINUX_STOPPED = 'i-sdkfx0000linux002';
const WINDOWS = 'i-sdkfx00000win0001';
const BEIJING = 'i-sdkfx00beijing001';

const REQUEST_ID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const FINGERPRINT = /^[0-9a-f]{2}(:[0-9a-f]{2}){15}$/;
const KEY_PAIR_ID = /^ssh-[0-9a-z]{20}$/;
const CREATION_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$/;

// Messages and statuses of the API reference (../shared/spec/ecs-keypair-api.md).
const ERRORS = {
  'KeyPair.AlreadyExist': [400, 'The key pair already exist.'],
  'InvalidKeyPairName.Malformed': [400, 'Specified Key Pair name is not valid.'],
  'InvalidRegionId.NotFound': [404, 'The RegionId provided does not exist in our records.'],
  'InvalidPublicKeyBody.Malformed': [400, 'The PublicKeyBody format is not supported.'],
  'InvalidKeyPairNames.ValueNotSupported': [400, 'The specified parameter "KeyPairNames" is not valid.'],
  'InvalidAccessKeyId.NotFound': [404, 'Specified access key is not found.'],
  'DependencyViolation.WindowsInstance': [403, 'The instance creating is windows, cannot use ssh key pair to login'],
  'InvalidKeyPairName.NotFound': [400, 'The specified KeyPairName does not exist in our records.'],
  'InvalidParameter.KeypairAlreadyAttachedInstance': [400, 'The specified parameter "KeyPairNames" attached to instances can not be deleted.'],
  'InvalidResourceGroup.NotFound': [404, 'The ResourceGroup provided does not exist in our records.'],
  'InvalidAcceptLanguage.NotFound': [404, 'Only Chinese (zh-CN), English (en-US), and Japanese (ja) are allowed.'],
  'InvalidResourceId.NotFound': [404, 'The specified ResourceIds are not found in our records.'],
  'QuotaExceed.KeyPair': [403, 'The key pair quota exceeds.'],
};
const SIGNATURE_MISMATCH_PREFIX = 'Specified signature is not matched with our calculation. server string to sign is:';
// Per-instance outcomes of Attach/DetachKeyPair (mock decisions; see tests/sdk/py/common.py).
const RESULT_OK = { Success: 'true', Code: '200', Message: 'successful' };
const RESULT_NO_INSTANCE = { Success: 'false', Code: 'InvalidInstanceId.NotFound', Message: 'The specified InstanceId does not exist.' };
const RESULT_NOT_ATTACHED = { Success: 'false', Code: 'InvalidKeyPair.NotAttached', Message: 'The specified KeyPair is not attached to the instance.' };

// ------------------------------------------------------------------------------------------
// The server under test

const started = [];
// However the suite ends (a server failing to start, an exception), no server outlives it.
process.on('exit', () => started.forEach((p) => p.exitCode === null && p.kill()));

async function startMock(args, { fixtures = true } = {}) {
  const target = process.env.CARGO_TARGET_DIR || 'target';
  const binary = process.env.ECS_MOCK_BIN || path.resolve(REPO, target, 'release', 'ecs-mock');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ECS_MOCK_')));
  const all = ['--listen', '127.0.0.1:0', '--seed', String(SEED), ...(fixtures ? ['--fixtures', FIXTURES] : []), ...args];
  const proc = spawn(binary, all, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let log = '';
  proc.stderr.on('data', (d) => { log = (log + d).slice(-2000); });
  const lines = readline.createInterface({ input: proc.stdout });
  const first = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(''), 30000);
    lines.once('line', (l) => { clearTimeout(timer); resolve(l); });
    proc.once('exit', () => { clearTimeout(timer); resolve(''); });
  });
  const m = /^ecs-mock listening on http:\/\/(\S+)$/.exec(first);
  if (!m) {
    proc.kill();
    throw new Error(`ecs-mock did not start (first line ${JSON.stringify(first)}); log: ${log}`);
  }
  lines.on('line', () => {}); // keep draining stdout
  return {
    endpoint: m[1],
    stop: () => new Promise((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', resolve);
      proc.kill('SIGTERM');
    }),
  };
}

// ------------------------------------------------------------------------------------------
// Case runner

class Check extends Error {}

function expect(cond, what) {
  if (!cond) throw new Check(what);
}

function eq(actual, expected, what) {
  try {
    assert.deepStrictEqual(actual, expected);
  } catch (e) {
    throw new Check(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const cases = [];
function test(name, fn, xfail = null) {
  cases.push({ name, fn, xfail });
}

function oneLine(text) {
  const t = String(text).split(/\s+/).join(' ');
  return t.length <= 600 ? t : `${t.slice(0, 600)}...`;
}

async function runAll() {
  let passed = 0;
  let failed = 0;
  let xfailed = 0;
  for (const { name, fn, xfail } of cases) {
    try {
      await fn();
      if (xfail) {
        failed += 1;
        console.log(`FAIL - ${name}: passed although marked expected-to-fail (${xfail})`);
      } else {
        passed += 1;
        console.log(`ok - ${name}`);
      }
    } catch (e) {
      const reason = e instanceof Check ? e.message : `${e && e.constructor ? e.constructor.name : 'Error'}: ${e && e.message}`;
      if (xfail) {
        xfailed += 1;
        console.log(`xfail - ${name}: ${xfail} (got: ${oneLine(reason)})`);
      } else {
        failed += 1;
        console.log(`FAIL - ${name}: ${oneLine(reason)}`);
      }
    }
  }
  if (xfailed) console.log(`# ${xfailed} expected failure(s), not counted`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed;
}

// ------------------------------------------------------------------------------------------
// Keys, checked independently of the mock

function md5Fingerprint(blob) {
  return crypto.createHash('md5').update(blob).digest('hex').match(/../g).join(':');
}

function sshString(buf) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

function mpint(base64url) {
  let b = Buffer.from(base64url, 'base64url');
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return sshString(b);
}

// Parses `pem` as an unencrypted RSA-2048 private key (PKCS#8 as documented) and returns
// { line: 'ssh-rsa <base64>', fingerprint } built from the key's JWK (RFC 4253 §6.6 blob).
function checkPrivateKey(pem) {
  expect(typeof pem === 'string', `PrivateKeyBody is ${typeof pem}`);
  expect(pem.startsWith('-----BEGIN PRIVATE KEY-----\n'), `PrivateKeyBody is not PKCS#8 PEM: ${JSON.stringify(pem.slice(0, 40))}`);
  const key = crypto.createPrivateKey(pem);
  eq(key.asymmetricKeyType, 'rsa', 'key type');
  eq(key.asymmetricKeyDetails.modulusLength, 2048, 'modulus length');
  const jwk = crypto.createPublicKey(key).export({ format: 'jwk' });
  const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), mpint(jwk.e), mpint(jwk.n)]);
  return { line: `ssh-rsa ${blob.toString('base64')}`, fingerprint: md5Fingerprint(blob) };
}

const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecs-mock-sdk-keys-'));
const keyCache = {};
// A key made by ssh-keygen at test time: { public: line, fingerprint: ssh-keygen -l -E md5 }.
function sshKey(kind) {
  if (!keyCache[kind]) {
    const file = path.join(keyDir, kind);
    const args = ['-q', '-t', kind, ...(kind === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', `sdk-suite-${kind}`, '-f', file];
    execFileSync('ssh-keygen', args, { stdio: 'ignore' });
    const out = execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', `${file}.pub`], { encoding: 'utf8' });
    const m = /MD5:([0-9a-f:]{47})/.exec(out);
    expect(m, `unexpected ssh-keygen -l output ${out}`);
    keyCache[kind] = { public: fs.readFileSync(`${file}.pub`, 'utf8').trim(), fingerprint: m[1] };
  }
  return keyCache[kind];
}

const keyPart = (line) => line.split(/\s+/).slice(0, 2).join(' ');
const namesOf = (body) => body.KeyPairs.KeyPair.map((k) => k.KeyPairName);
const sortedKeys = (o) => Object.keys(o).sort();
const checkRequestId = (body) => expect(REQUEST_ID.test(String(body.RequestId)), `RequestId ${body.RequestId}`);

// ------------------------------------------------------------------------------------------
// The driver: each action as one SDK call; bodies come back through the typed model's toMap()

class Driver {
  constructor(endpoint, signatureAlgorithm = null, secret = SECRET) {
    this.endpoint = endpoint;
    this.signatureAlgorithm = signatureAlgorithm;
    this.secret = secret;
    const v1 = signatureAlgorithm === 'v2';
    this.label = v1 ? 'node V1' : 'node V3';
    this.prefix = v1 ? 'node-v1' : 'node-v3';
    this.fixtureTenant = v1 ? 'sdk-fx-v1' : 'sdk-fx-v3';
    this.clients = new Map();
  }

  tenant(suffix) {
    return `${this.prefix}-${suffix}`;
  }

  client(ak) {
    if (!this.clients.has(ak)) {
      const config = new $OpenApiUtil.Config({
        accessKeyId: ak, accessKeySecret: this.secret, endpoint: this.endpoint, protocol: 'http', regionId: REGION,
      });
      if (this.signatureAlgorithm) config.signatureAlgorithm = this.signatureAlgorithm;
      this.clients.set(ak, new Ecs.default(config));
    }
    return this.clients.get(ak);
  }

  static body(resp) {
    eq(resp.statusCode, 200, 'HTTP status');
    expect(resp.body, 'no typed body');
    return resp.body.toMap();
  }

  static tags(Cls, tags) {
    return tags ? tags.map(([key, value]) => new Cls({ key, value })) : undefined;
  }

  async create(ak, name, { region = REGION, tags, rg } = {}) {
    const req = new Ecs.CreateKeyPairRequest({
      regionId: region, keyPairName: name, resourceGroupId: rg, tag: Driver.tags(Ecs.CreateKeyPairRequestTag, tags),
    });
    const resp = await this.client(ak).createKeyPair(req);
    eq(resp.body.privateKeyBody, resp.body.toMap().PrivateKeyBody, 'typed privateKeyBody');
    return Driver.body(resp);
  }

  async importKey(ak, name, publicKey, { region = REGION } = {}) {
    const req = new Ecs.ImportKeyPairRequest({ regionId: region, keyPairName: name, publicKeyBody: publicKey });
    return Driver.body(await this.client(ak).importKeyPair(req));
  }

  async describe(ak, { region = REGION, name, fingerprint, pageNumber, pageSize, includePublicKey, rg, tags } = {}) {
    const req = new Ecs.DescribeKeyPairsRequest({
      regionId: region, keyPairName: name, keyPairFingerPrint: fingerprint, pageNumber, pageSize, includePublicKey,
      resourceGroupId: rg, tag: Driver.tags(Ecs.DescribeKeyPairsRequestTag, tags),
    });
    const resp = await this.client(ak).describeKeyPairs(req);
    expect(typeof resp.body.totalCount === 'number', `typed totalCount ${resp.body.totalCount}`);
    expect(Array.isArray(resp.body.keyPairs.keyPair), 'typed keyPairs.keyPair is not an array');
    return Driver.body(resp);
  }

  async delete(ak, namesJson, { region = REGION } = {}) {
    return Driver.body(await this.client(ak).deleteKeyPairs(new Ecs.DeleteKeyPairsRequest({ regionId: region, keyPairNames: namesJson })));
  }

  async attach(ak, name, idsJson) {
    const req = new Ecs.AttachKeyPairRequest({ regionId: REGION, keyPairName: name, instanceIds: idsJson });
    return Driver.body(await this.client(ak).attachKeyPair(req));
  }

  async detach(ak, name, idsJson) {
    const req = new Ecs.DetachKeyPairRequest({ regionId: REGION, keyPairName: name, instanceIds: idsJson });
    return Driver.body(await this.client(ak).detachKeyPair(req));
  }

  async regions(ak, lang) {
    return Driver.body(await this.client(ak).describeRegions(new Ecs.DescribeRegionsRequest({ acceptLanguage: lang })));
  }

  async tag(ak, ids, tags) {
    const req = new Ecs.TagResourcesRequest({
      regionId: REGION, resourceType: 'keypair', resourceId: ids, tag: Driver.tags(Ecs.TagResourcesRequestTag, tags),
    });
    return Driver.body(await this.client(ak).tagResources(req));
  }

  async untag(ak, ids, { keys, all } = {}) {
    const req = new Ecs.UntagResourcesRequest({ regionId: REGION, resourceType: 'keypair', resourceId: ids, tagKey: keys, all });
    return Driver.body(await this.client(ak).untagResources(req));
  }

  async listTags(ak, { ids, tags, nextToken } = {}) {
    const req = new Ecs.ListTagResourcesRequest({
      regionId: REGION, resourceType: 'keypair', resourceId: ids, nextToken, tag: Driver.tags(Ecs.ListTagResourcesRequestTag, tags),
    });
    return Driver.body(await this.client(ak).listTagResources(req));
  }

  async join(ak, rg, name) {
    const req = new Ecs.JoinResourceGroupRequest({ regionId: REGION, resourceGroupId: rg, resourceId: name, resourceType: 'keypair' });
    return Driver.body(await this.client(ak).joinResourceGroup(req));
  }

  // The call must reject with what wire doc §3.2 says the Node SDK throws for a JSON error body.
  async expectError(call, code, { status, message, messageCheck } = {}) {
    const [docStatus, docMessage] = ERRORS[code] || [];
    status = status || docStatus;
    message = message === undefined ? docMessage : message;
    let error = null;
    try {
      await call();
    } catch (e) {
      error = e;
    }
    expect(error, `no exception; expected ${code}`);
    checkError(error, code, status, message, messageCheck);
    return error;
  }
}

function checkError(e, code, status, message, messageCheck) {
  // The SDK tests for Throttling first, whatever the status (openapi-core client.js).
  const Cls = code.includes('Throttling') ? ThrottlingError : status >= 500 ? ServerError : ClientError;
  expect(e instanceof Cls, `exception is ${e && e.constructor && e.constructor.name} (${e && e.message}), not ${Cls.name}`);
  eq(e.name, Cls.name, '.name');
  eq(e.code, code, '.code');
  eq(e.statusCode, status, '.statusCode');
  const rid = e.requestId;
  expect(REQUEST_ID.test(String(rid)), `.requestId ${rid}`);
  const data = e.data;
  eq(sortedKeys(data), ['Code', 'HostId', 'Message', 'Recommend', 'RequestId'], '.data keys');
  eq([data.Code, data.RequestId], [code, rid], '.data Code, RequestId');
  eq(data.Recommend, `https://api.aliyun.com/troubleshoot?q=${code}&product=Ecs&requestId=${rid}`, '.data Recommend');
  expect(String(data.HostId).endsWith('.aliyuncs.com'), `.data HostId ${data.HostId}`);
  if (messageCheck) messageCheck(data.Message);
  else eq(data.Message, message, '.data Message');
  eq(e.message, `${code}: code: ${status}, ${data.Message} request id: ${rid}`, '.message');
  eq(e.description, 'undefined', '.description');
}

// ------------------------------------------------------------------------------------------
// Cases (the same as tests/sdk/py/cases.py)

function register(drv) {
  const fx = drv.fixtureTenant;
  const t = (name, fn, xfail) => test(`${drv.label}: ${name}`, fn, xfail);

  t('CreateKeyPair returns an RSA-2048 PKCS#8 key whose fingerprint is the MD5 of its SSH blob', async () => {
    const body = await drv.create(drv.tenant('create'), 'sdk-create');
    eq(sortedKeys(body), ['KeyPairFingerPrint', 'KeyPairId', 'KeyPairName', 'PrivateKeyBody', 'RequestId'], 'fields');
    checkRequestId(body);
    eq(body.KeyPairName, 'sdk-create', 'KeyPairName');
    expect(KEY_PAIR_ID.test(body.KeyPairId), `KeyPairId ${body.KeyPairId}`);
    expect(FINGERPRINT.test(body.KeyPairFingerPrint), `fingerprint ${body.KeyPairFingerPrint}`);
    eq(body.KeyPairFingerPrint, checkPrivateKey(body.PrivateKeyBody).fingerprint, 'fingerprint vs MD5 of the derived public blob');
  });

  t("DescribeKeyPairs returns the created key's public key, fingerprint, group, time and tags", async () => {
    const ak = drv.tenant('describe-one');
    const created = await drv.create(ak, 'sdk-described', { tags: [['env', 'ci'], ['team', 'sdk conformance']] });
    const { line } = checkPrivateKey(created.PrivateKeyBody);
    const body = await drv.describe(ak, { name: 'sdk-described', includePublicKey: true });
    checkRequestId(body);
    eq([body.TotalCount, body.PageNumber, body.PageSize], [1, 1, 10], 'TotalCount, PageNumber, PageSize');
    eq(body.KeyPairs.KeyPair.length, 1, 'number of key pairs');
    const kp = body.KeyPairs.KeyPair[0];
    eq(kp.KeyPairName, 'sdk-described', 'KeyPairName');
    eq(kp.KeyPairFingerPrint, created.KeyPairFingerPrint, 'fingerprint');
    eq(keyPart(kp.PublicKey), line, "PublicKey vs the private key's public half");
    eq(md5Fingerprint(Buffer.from(kp.PublicKey.split(' ')[1], 'base64')), created.KeyPairFingerPrint, 'MD5 of the PublicKey blob');
    expect(CREATION_TIME.test(kp.CreationTime), `CreationTime ${kp.CreationTime}`);
    expect(kp.ResourceGroupId.startsWith('rg-'), `ResourceGroupId ${kp.ResourceGroupId}`);
    eq(kp.Tags.Tag, [{ TagKey: 'env', TagValue: 'ci' }, { TagKey: 'team', TagValue: 'sdk conformance' }], 'Tags.Tag');
    const plain = (await drv.describe(ak, { name: 'sdk-described' })).KeyPairs.KeyPair[0];
    expect(!('PublicKey' in plain), 'PublicKey present without IncludePublicKey');
  });

  for (const kind of ['rsa', 'ecdsa']) {
    t(`ImportKeyPair of an ssh-keygen ${kind} key reports ssh-keygen's MD5 fingerprint`, async () => {
      const ak = drv.tenant(`import-${kind}`);
      const key = sshKey(kind);
      const body = await drv.importKey(ak, `sdk-imported-${kind}`, key.public);
      eq(sortedKeys(body), ['KeyPairFingerPrint', 'KeyPairName', 'RequestId'], 'fields');
      checkRequestId(body);
      eq(body.KeyPairName, `sdk-imported-${kind}`, 'KeyPairName');
      eq(body.KeyPairFingerPrint, key.fingerprint, 'fingerprint vs ssh-keygen -l -E md5');
      const found = await drv.describe(ak, { fingerprint: key.fingerprint, includePublicKey: true });
      eq(namesOf(found), [`sdk-imported-${kind}`], 'DescribeKeyPairs by fingerprint');
      eq(keyPart(found.KeyPairs.KeyPair[0].PublicKey), keyPart(key.public), 'PublicKey');
    });
  }

  t('DescribeKeyPairs pages 7 matches as 3+3+1 with TotalCount 7 on every page, in creation order', async () => {
    const ak = drv.tenant('paging');
    const names = [1, 2, 3, 4, 5, 6, 7].map((i) => `sdk-page-${i}`);
    for (const n of names) await drv.create(ak, n);
    await drv.create(ak, 'sdk-other');
    let seen = [];
    for (const [page, size] of [[1, 3], [2, 3], [3, 1], [4, 0]]) {
      const body = await drv.describe(ak, { name: 'sdk-page-*', pageNumber: page, pageSize: 3 });
      eq([body.TotalCount, body.PageNumber, body.PageSize], [7, page, 3], `page ${page} totals`);
      eq(body.KeyPairs.KeyPair.length, size, `page ${page} size`);
      seen = seen.concat(namesOf(body));
    }
    eq(seen, names, 'names over all pages');
    const everything = await drv.describe(ak);
    eq([everything.TotalCount, everything.PageNumber, everything.PageSize], [8, 1, 10], 'defaults');
    eq(namesOf(everything), [...names, 'sdk-other'], 'unfiltered listing');
  });

  t('DeleteKeyPairs removes the named key pairs and ignores unknown names', async () => {
    const ak = drv.tenant('delete');
    for (const n of ['sdk-del-a', 'sdk-del-b', 'sdk-keep']) await drv.create(ak, n);
    const body = await drv.delete(ak, JSON.stringify(['sdk-del-a', 'sdk-del-b', 'sdk-never-existed']));
    eq(sortedKeys(body), ['RequestId'], 'fields');
    checkRequestId(body);
    eq(namesOf(await drv.describe(ak)), ['sdk-keep'], 'remaining key pairs');
  });

  t('AttachKeyPair and DetachKeyPair report per-instance results', async () => {
    const name = 'sdk-attach';
    await drv.create(fx, name);
    const ids = [LINUX_RUNNING, LINUX_STOPPED, 'i-sdkfx-no-such-instance', BEIJING];
    let body = await drv.attach(fx, name, JSON.stringify(ids));
    checkRequestId(body);
    eq(body.KeyPairName, name, 'KeyPairName');
    eq([body.TotalCount, body.FailCount], ['4', '2'], 'TotalCount, FailCount');
    eq(body.Results.Result, [
      { InstanceId: LINUX_RUNNING, ...RESULT_OK },
      { InstanceId: LINUX_STOPPED, ...RESULT_OK },
      { InstanceId: 'i-sdkfx-no-such-instance', ...RESULT_NO_INSTANCE },
      { InstanceId: BEIJING, ...RESULT_NO_INSTANCE },
    ], 'attach results');
    body = await drv.detach(fx, name, JSON.stringify([LINUX_RUNNING]));
    eq([body.TotalCount, body.FailCount], ['1', '0'], 'detach TotalCount, FailCount');
    eq(body.Results.Result, [{ InstanceId: LINUX_RUNNING, ...RESULT_OK }], 'detach results');
    body = await drv.detach(fx, name, JSON.stringify([LINUX_RUNNING, LINUX_STOPPED]));
    eq([body.TotalCount, body.FailCount], ['2', '1'], 'second detach counts');
    eq(body.Results.Result, [
      { InstanceId: LINUX_RUNNING, ...RESULT_NOT_ATTACHED },
      { InstanceId: LINUX_STOPPED, ...RESULT_OK },
    ], 'second detach results');
    await drv.delete(fx, JSON.stringify([name]));
  });

  t('DescribeRegions with AcceptLanguage=en-US lists the 27 documented regions and endpoints', async () => {
    const body = await drv.regions(drv.tenant('regions'), 'en-US');
    checkRequestId(body);
    eq(body.Regions.Region.map((r) => [r.RegionId, r.LocalName, r.RegionEndpoint]), REGIONS_EN, 'regions');
    eq([...new Set(body.Regions.Region.map((r) => r.Status))], ['available'], 'Status values');
  });

  t('DescribeRegions defaults to zh-CN names and answers ja in Japanese', async () => {
    const ak = drv.tenant('regions-lang');
    const def = (await drv.regions(ak)).Regions.Region;
    const zh = (await drv.regions(ak, 'zh-CN')).Regions.Region;
    const ja = (await drv.regions(ak, 'ja')).Regions.Region;
    eq(def, zh, 'default language vs zh-CN');
    const ids = REGIONS_EN.map((r) => r[0]);
    eq(zh.map((r) => r.RegionId), ids, 'zh-CN region ids');
    eq(ja.map((r) => r.RegionId), ids, 'ja region ids');
    eq(zh.find((r) => r.RegionId === 'cn-hangzhou').LocalName, '华东1（杭州）', 'zh-CN name of cn-hangzhou');
    REGIONS_EN.forEach(([id, english], i) => {
      expect(zh[i].LocalName !== english, `zh-CN name of ${id} is the English one`);
      expect(![english, zh[i].LocalName].includes(ja[i].LocalName), `ja name of ${id} is not Japanese`);
    });
  });

  t('TagResources, ListTagResources and UntagResources round-trip tags on two key pairs', async () => {
    const ak = drv.tenant('tags');
    for (const n of ['sdk-tag-a', 'sdk-tag-b', 'sdk-tag-none']) await drv.create(ak, n);
    let body = await drv.tag(ak, ['sdk-tag-a', 'sdk-tag-b'], [['env', 'prod'], ['owner', 'sdk-suite']]);
    eq(sortedKeys(body), ['RequestId'], 'TagResources fields');
    checkRequestId(body);
    const listing = async (opts) => {
      const out = await drv.listTags(ak, opts);
      checkRequestId(out);
      expect(!out.NextToken, `unexpected NextToken ${out.NextToken}`);
      return out.TagResources.TagResource.map((x) => [x.ResourceId, x.ResourceType, x.TagKey, x.TagValue].join('|')).sort();
    };
    const both = ['sdk-tag-a|keypair|env|prod', 'sdk-tag-a|keypair|owner|sdk-suite', 'sdk-tag-b|keypair|env|prod', 'sdk-tag-b|keypair|owner|sdk-suite'];
    eq(await listing({ ids: ['sdk-tag-a', 'sdk-tag-b', 'sdk-tag-none'] }), both, 'ListTagResources by ResourceId');
    eq(await listing({ tags: [['env', 'prod']] }), both, 'ListTagResources by Tag');
    const tagged = await drv.describe(ak, { tags: [['owner', 'sdk-suite']] });
    eq(namesOf(tagged), ['sdk-tag-a', 'sdk-tag-b'], 'DescribeKeyPairs by Tag');
    eq(tagged.KeyPairs.KeyPair[0].Tags.Tag, [{ TagKey: 'env', TagValue: 'prod' }, { TagKey: 'owner', TagValue: 'sdk-suite' }], 'Tags.Tag of sdk-tag-a');
    eq((await drv.describe(ak, { name: 'sdk-tag-none' })).KeyPairs.KeyPair[0].Tags.Tag, [], 'untagged Tags.Tag');
    await drv.tag(ak, ['sdk-tag-a'], [['env', 'staging']]);
    body = await drv.untag(ak, ['sdk-tag-b'], { keys: ['owner'] });
    eq(sortedKeys(body), ['RequestId'], 'UntagResources fields');
    eq(await listing({ ids: ['sdk-tag-a', 'sdk-tag-b'] }),
      ['sdk-tag-a|keypair|env|staging', 'sdk-tag-a|keypair|owner|sdk-suite', 'sdk-tag-b|keypair|env|prod'], 'after overwrite and untag');
    await drv.untag(ak, ['sdk-tag-a', 'sdk-tag-b'], { all: true });
    eq(await listing({ ids: ['sdk-tag-a', 'sdk-tag-b'] }), [], 'after UntagResources All=true');
  });

  t('JoinResourceGroup moves a key pair into a fixture resource group', async () => {
    const name = 'sdk-join';
    await drv.create(fx, name);
    const before = (await drv.describe(fx, { name })).KeyPairs.KeyPair[0].ResourceGroupId;
    expect(!FIXTURE_GROUPS.includes(before), `new key pair already in a fixture group ${before}`);
    const body = await drv.join(fx, FIXTURE_GROUPS[1], name);
    eq(sortedKeys(body), ['RequestId'], 'fields');
    checkRequestId(body);
    eq((await drv.describe(fx, { name })).KeyPairs.KeyPair[0].ResourceGroupId, FIXTURE_GROUPS[1], 'group after join');
    // The default group's key pairs are listed whatever the group filter (reference §7.11),
    // hence the name filter.
    eq(namesOf(await drv.describe(fx, { rg: FIXTURE_GROUPS[1], name })), [name], 'DescribeKeyPairs by the new group');
    eq(namesOf(await drv.describe(fx, { rg: before, name })), [], 'DescribeKeyPairs by the old group');
    await drv.delete(fx, JSON.stringify([name]));
  });

  t('CreateKeyPair with a fixture ResourceGroupId puts the key pair in that group', async () => {
    const name = 'sdk-create-in-group';
    await drv.create(fx, name, { rg: FIXTURE_GROUPS[0] });
    eq((await drv.describe(fx, { name })).KeyPairs.KeyPair[0].ResourceGroupId, FIXTURE_GROUPS[0], 'group');
    await drv.delete(fx, JSON.stringify([name]));
  });

  t('names and tag values with spaces, reserved and non-ASCII characters survive signing and round-trip', async () => {
    // Node sends `*!'()` raw and spaces as %20 (wire doc §1); the server must verify and decode.
    const ak = drv.tenant('charset');
    const name = '密钥-ключ:key_1.a';
    const tags = [['team name', "a b+c*d~e!f'g(h)i"], ['ünïcødé/键', '值 & = ? # % 100%'], ['empty', '']];
    const body = await drv.create(ak, name, { tags });
    eq(body.KeyPairName, name, 'KeyPairName');
    const kp = (await drv.describe(ak, { name })).KeyPairs.KeyPair;
    eq(kp.map((k) => k.KeyPairName), [name], 'DescribeKeyPairs by the exact name');
    eq(kp[0].Tags.Tag, tags.map(([TagKey, TagValue]) => ({ TagKey, TagValue })), 'Tags.Tag');
    eq(namesOf(await drv.describe(ak, { tags: [tags[1]] })), [name], 'DescribeKeyPairs by a non-ASCII tag');
  });

  // --------------------------------------------------------------------------------- errors

  t('CreateKeyPair of an existing name fails with KeyPair.AlreadyExist', async () => {
    const ak = drv.tenant('dup');
    await drv.create(ak, 'sdk-dup');
    await drv.expectError(() => drv.create(ak, 'sdk-dup'), 'KeyPair.AlreadyExist');
  });

  t('ImportKeyPair of an existing name fails with KeyPair.AlreadyExist', async () => {
    const ak = drv.tenant('dup-import');
    await drv.importKey(ak, 'sdk-dup', sshKey('rsa').public);
    await drv.expectError(() => drv.importKey(ak, 'sdk-dup', sshKey('rsa').public), 'KeyPair.AlreadyExist');
  });

  // `(` `)` `*` `!` `'` go raw on the wire from Node (wire doc §1): a name with them is malformed.
  for (const bad of ['1-starts-with-a-digit', 'x', 'http://sdk-key', 'has space', "it's(bad)*!"]) {
    t(`CreateKeyPair named ${JSON.stringify(bad)} fails with InvalidKeyPairName.Malformed`, async () => {
      await drv.expectError(() => drv.create(drv.tenant('malformed'), bad), 'InvalidKeyPairName.Malformed');
    });
  }

  t('ImportKeyPair with a malformed name fails with InvalidKeyPairName.Malformed', async () => {
    await drv.expectError(() => drv.importKey(drv.tenant('malformed-import'), '-dash-first', sshKey('rsa').public), 'InvalidKeyPairName.Malformed');
  });

  t('CreateKeyPair in an unknown region fails with InvalidRegionId.NotFound', async () => {
    await drv.expectError(() => drv.create(drv.tenant('region'), 'sdk-region', { region: 'cn-atlantis' }), 'InvalidRegionId.NotFound');
  });

  for (const [what, text] of [['garbage', 'this is not a public key'], ['bad base64', 'ssh-rsa AAAA!!!notbase64 x'], ['ed25519 (not a documented type)', null]]) {
    t(`ImportKeyPair of ${what} fails with InvalidPublicKeyBody.Malformed`, async () => {
      const body = text === null ? sshKey('ed25519').public : text;
      await drv.expectError(() => drv.importKey(drv.tenant('bad-public'), 'sdk-bad-public', body), 'InvalidPublicKeyBody.Malformed');
    });
  }

  for (const [what, names] of [['a comma list', 'sdk-a,sdk-b'], ['an empty array', '[]'], ['a JSON object', '{"a":1}']]) {
    t(`DeleteKeyPairs with ${what} fails with InvalidKeyPairNames.ValueNotSupported`, async () => {
      await drv.expectError(() => drv.delete(drv.tenant('bad-names'), names), 'InvalidKeyPairNames.ValueNotSupported');
    });
  }

  t('the 501st key pair of a region fails with QuotaExceed.KeyPair; other regions are not affected', async () => {
    const ak = drv.tenant('quota');
    const pub = sshKey('rsa').public;
    for (let i = 0; i < 500; i += 1) await drv.importKey(ak, `sdk-q-${i}`, pub); // imports: no key generation
    await drv.expectError(() => drv.create(ak, 'sdk-q-over'), 'QuotaExceed.KeyPair');
    await drv.expectError(() => drv.importKey(ak, 'sdk-q-over', pub), 'QuotaExceed.KeyPair');
    await drv.create(ak, 'sdk-q-elsewhere', { region: 'cn-beijing' });
    await drv.delete(ak, JSON.stringify(['sdk-q-0']));
    eq((await drv.create(ak, 'sdk-q-over')).KeyPairName, 'sdk-q-over', 'create after freeing one unit');
  });

  t('AttachKeyPair to a Windows instance fails with DependencyViolation.WindowsInstance', async () => {
    await drv.create(fx, 'sdk-win');
    await drv.expectError(() => drv.attach(fx, 'sdk-win', JSON.stringify([LINUX_RUNNING, WINDOWS])), 'DependencyViolation.WindowsInstance');
    await drv.delete(fx, JSON.stringify(['sdk-win']));
  });

  t('AttachKeyPair of an unknown key pair fails with InvalidKeyPairName.NotFound', async () => {
    await drv.expectError(() => drv.attach(fx, 'sdk-no-such-key', JSON.stringify([LINUX_RUNNING])), 'InvalidKeyPairName.NotFound');
  });

  t('DeleteKeyPairs of an attached key pair fails with InvalidParameter.KeypairAlreadyAttachedInstance', async () => {
    await drv.create(fx, 'sdk-attached');
    await drv.attach(fx, 'sdk-attached', JSON.stringify([LINUX_STOPPED]));
    await drv.expectError(() => drv.delete(fx, JSON.stringify(['sdk-attached'])), 'InvalidParameter.KeypairAlreadyAttachedInstance');
    await drv.detach(fx, 'sdk-attached', JSON.stringify([LINUX_STOPPED]));
    await drv.delete(fx, JSON.stringify(['sdk-attached']));
  });

  t('JoinResourceGroup to an unknown group fails with InvalidResourceGroup.NotFound', async () => {
    const ak = drv.tenant('join-unknown');
    await drv.create(ak, 'sdk-join-unknown');
    await drv.expectError(() => drv.join(ak, 'rg-doesnotexist0001', 'sdk-join-unknown'), 'InvalidResourceGroup.NotFound');
  });

  t('TagResources of an unknown key pair fails with InvalidResourceId.NotFound', async () => {
    await drv.expectError(() => drv.tag(drv.tenant('tag-unknown'), ['sdk-nothing'], [['k', 'v']]), 'InvalidResourceId.NotFound');
  });

  t('DescribeRegions with AcceptLanguage=fr (a newer SDK value) answers with the English names', async () => {
    const ak = drv.tenant('lang');
    eq(JSON.stringify((await drv.regions(ak, 'fr')).Regions), JSON.stringify((await drv.regions(ak, 'en-US')).Regions), 'Regions');
  });

  t('DescribeRegions with AcceptLanguage=es fails with InvalidAcceptLanguage.NotFound', async () => {
    await drv.expectError(() => drv.regions(drv.tenant('lang'), 'es'), 'InvalidAcceptLanguage.NotFound');
  });
}

// Against a server started with --credential sdk-known:known-secret.
function registerAuth(endpointOf, signatureAlgorithm) {
  const label = signatureAlgorithm === 'v2' ? 'node V1' : 'node V3';
  const t = (name, fn) => test(`${label}: ${name}`, fn);

  t('with --credential, the configured AccessKeyId and secret succeed', async () => {
    const d = new Driver(endpointOf(), signatureAlgorithm, 'known-secret');
    eq((await d.regions('sdk-known', 'en-US')).Regions.Region.length, 27, 'regions');
  });

  t('with --credential, an unknown AccessKeyId fails with InvalidAccessKeyId.NotFound', async () => {
    const d = new Driver(endpointOf(), signatureAlgorithm);
    await d.expectError(() => d.regions('sdk-unknown', 'en-US'), 'InvalidAccessKeyId.NotFound');
  });

  t("a wrong secret fails with SignatureDoesNotMatch quoting the server's string to sign", async () => {
    const d = new Driver(endpointOf(), signatureAlgorithm, 'wrong-secret');
    const rest = signatureAlgorithm === 'v2' ? /^POST&%2F&\S+$/ : /^ACS3-HMAC-SHA256\n[0-9a-f]{64}$/;
    await d.expectError(() => d.regions('sdk-known', 'en-US'), 'SignatureDoesNotMatch', {
      status: 400,
      messageCheck: (msg) => {
        expect(msg.startsWith(SIGNATURE_MISMATCH_PREFIX), `message ${msg}`);
        expect(rest.test(msg.slice(SIGNATURE_MISMATCH_PREFIX.length)), `string to sign in ${msg}`);
      },
    });
  });
}

// ------------------------------------------------------------------------------------------
// Forced errors and the fault conformance table (tests/sdk/py/conformance.py does the same for
// the Python suites; tests/sdk/conformance.json lists the rows)

async function control(endpoint, method, pathAndQuery, body) {
  const resp = await fetch(`http://${endpoint}${pathAndQuery}`, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Check(`${method} ${pathAndQuery}: HTTP ${resp.status} ${text}`);
  return JSON.parse(text);
}

async function operations(endpoint, ak, action) {
  return (await control(endpoint, 'GET', `/__mock/journal/retries?access_key_id=${ak}&action=${action}`)).operations;
}

async function singleOperation(endpoint, ak, action) {
  const ops = await operations(endpoint, ak, action);
  expect(ops.length === 1, `the retry report has ${ops.length} operations for ${ak}/${action}: ${JSON.stringify(ops)}`);
  return ops[0];
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Waits until the journal of `ak` stops growing: an attempt whose client gave up during a
// scenario latency is journaled when the server notices the disconnection.
async function settle(endpoint, ak, action) {
  let last = null;
  let stable = 0;
  for (let i = 0; i < 60 && stable < 3; i += 1) {
    const now = JSON.stringify((await operations(endpoint, ak, action)).map((op) => op.attempts));
    stable = now === last ? stable + 1 : 0;
    last = now;
    await sleep(50);
  }
}

function forcedErrorFiles() {
  const names = fs.readdirSync(ERRORS_DIR);
  const pick = (prefix) => names.filter((n) => n.startsWith(prefix) && n.endsWith('.json')).sort();
  return [...pick('CreateKeyPair.'), ...pick('common.')];
}

// [code, status, message] the API reference documents for the scenario's forced error.
function expectedError(scenario) {
  const { effect } = scenario.rules[0];
  const code = effect.error;
  const table = ['CreateKeyPair', 'common', 'mock_defined'].find((t) => code in DOCUMENTED[t]);
  if (!table) throw new Check(`${code} is not in tests/sdk/documented_errors.json`);
  const [status, template] = DOCUMENTED[table][code];
  return [code, status, template.includes('{}') ? template.replace('{}', effect.arg) : template];
}

const errorText = (e) => (e instanceof Check ? e.message : `${e && e.constructor ? e.constructor.name : 'Error'}: ${e && e.message}`);

function registerForced(drv, endpointOf, table) {
  forcedErrorFiles().forEach((file, i) => {
    const scenario = JSON.parse(fs.readFileSync(path.join(ERRORS_DIR, file), 'utf8'));
    test(`${drv.label}: forced ${scenario.rules[0].effect.error} (${file}) through CreateKeyPair`, async () => {
      const cells = [`\`${file}\``];
      try {
        cells.push(...await forcedRow(drv, endpointOf(), i, scenario));
      } catch (e) {
        cells.push(`ERROR: ${errorText(e)}`, '', '', '');
        throw e;
      } finally {
        if (table) table.forced.push(cells);
      }
    });
  });
}

async function forcedRow(drv, endpoint, i, scenario) {
  const [code, status, message] = expectedError(scenario);
  const ak = drv.tenant(`forced-${i}`);
  await control(endpoint, 'DELETE', '/__mock/scenarios');
  await control(endpoint, 'POST', '/__mock/scenarios', scenario);
  let e;
  try {
    e = await drv.expectError(() => drv.create(ak, 'sdk-forced'), code, { status, message });
  } finally {
    await control(endpoint, 'DELETE', '/__mock/scenarios');
  }
  const op = await singleOperation(endpoint, ak, 'CreateKeyPair');
  eq(e.requestId, op.requests[op.requests.length - 1].request_id, "RequestId vs the journal's");
  eq([op.outcome.status, op.outcome.code], [status, code], 'journal outcome');
  return [e.name, code, String(status), String(op.attempts)];
}

// A gap as a stable label: under 50 ms "immediate", else the nearest 0.1 s x 2^k.
function bucket(ms) {
  if (ms < 50) return 'immediate';
  const k = Math.floor(Math.log2(ms / 75));
  return `~${Number((0.1 * 2 ** k).toPrecision(12))}s`;
}

const gapsText = (gaps) => (gaps.length ? gaps.map(bucket).join(', ') : '-');

// A stable phrase for an error message (ports, positions and bodies vary).
function summarize(e) {
  const text = String(e && e.message);
  if (e && e.name === 'SyntaxError') return 'body is not JSON';
  for (const [pattern, phrase] of [
    [/ReadTimeout/, 'ReadTimeout'],
    [/ConnectTimeout/, 'ConnectTimeout'],
    [/socket hang up/, 'socket hang up'],
    [/^aborted/, 'aborted'],
  ]) {
    if (pattern.test(text)) return phrase;
  }
  return text.split(/\s+/).join(' ').replace(/\d+/g, 'N').slice(0, 60);
}

// The fault table's calls: V3, short timeouts, one client per row.
const faultDriver = {
  label: 'node V3',
  tenant: (suffix) => `node-v3-${suffix}`,
  client: (endpoint, ak) => new Ecs.default(new $OpenApiUtil.Config({
    accessKeyId: ak,
    accessKeySecret: SECRET,
    endpoint,
    protocol: 'http',
    regionId: REGION,
    readTimeout: CONF.read_timeout_ms,
    connectTimeout: CONF.connect_timeout_ms,
  })),
  warm: async (client) => Driver.body(await client.describeRegions(new Ecs.DescribeRegionsRequest({}))),
  call: async (client, action, name) => {
    const resp = action === 'CreateKeyPair'
      ? await client.createKeyPair(new Ecs.CreateKeyPairRequest({ regionId: REGION, keyPairName: name }))
      : await client.describeKeyPairs(new Ecs.DescribeKeyPairsRequest({ regionId: REGION }));
    return ['typed body', resp.body.requestId];
  },
  // [exception, code, status, RequestId or null, detail]
  observe: (e) => {
    if (e instanceof ClientError || e instanceof ServerError || e instanceof ThrottlingError) {
      return [e.name, e.code, String(e.statusCode), e.requestId, '-'];
    }
    return [(e && e.name) || 'Error', (e && e.code) || '-', 'lost', null, summarize(e)];
  },
};

function registerFaults(table) {
  let shared = null;
  const sharedEndpoint = async () => {
    if (!shared) shared = await startMock([], { fixtures: false });
    return shared.endpoint;
  };
  CONF.rows.forEach((row, i) => {
    for (const action of row.actions || CONF.actions) {
      const connection = row.new_connection ? 'new' : 'reused';
      test(`${faultDriver.label} table: ${JSON.stringify(row.effect)} on ${action} (${connection} connection)`, async () => {
        const cells = [`\`${JSON.stringify(row.effect)}\``, connection, action];
        try {
          cells.push(...await faultRow(sharedEndpoint, i, row, action, connection));
        } catch (e) {
          cells.push(`ERROR: ${errorText(e)}`, '', '', '', '', '');
          throw e;
        } finally {
          table.faults.push(cells);
        }
      });
    }
  });
  return { stop: async () => { if (shared) await shared.stop(); } };
}

async function faultRow(sharedEndpoint, i, row, action, connection) {
  const fresh = connection === 'new' ? await startMock([], { fixtures: false }) : null;
  const endpoint = fresh ? fresh.endpoint : await sharedEndpoint();
  const ak = faultDriver.tenant(`fault-${i}-${action}`);
  const rule = { match: { action, access_key_id: ak }, effect: row.effect };
  await control(endpoint, 'DELETE', '/__mock/scenarios');
  await control(endpoint, 'POST', '/__mock/scenarios', { name: 'conformance-row', rules: [rule] });
  let observed;
  let op;
  try {
    const client = faultDriver.client(endpoint, ak);
    if (connection === 'reused') await faultDriver.warm(client);
    try {
      const [detail, requestId] = await faultDriver.call(client, action, 'sdk-fault');
      observed = ['none', '-', '200', requestId, detail];
    } catch (e) {
      observed = faultDriver.observe(e);
    }
    if (row.effect.latency) await settle(endpoint, ak, action);
    op = await singleOperation(endpoint, ak, action);
    if (observed[3]) eq(observed[3], op.requests[op.requests.length - 1].request_id, "RequestId vs the journal's last attempt");
    expect(!op.non_retryable_retried, `a non-retryable code was retried: ${JSON.stringify(op)}`);
  } finally {
    await control(endpoint, 'DELETE', '/__mock/scenarios');
    if (fresh) await fresh.stop();
  }
  const [exception, code, status, , detail] = observed;
  return [exception, code, status, detail, String(op.attempts), gapsText(op.gaps_ms)];
}

function grid(header, rows) {
  const line = (cells) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), `|${'---|'.repeat(header.length)}`, ...rows.map(line)];
}

// The node section of docs/sdk-conformance.md, rewritten in place (the other sections kept).
class Table {
  constructor(key, title) {
    this.key = key;
    this.title = title;
    this.forced = [];
    this.faults = [];
  }

  markdown() {
    return [
      // The runtime's HTTP stack shapes the answers too, so its version is part of the title.
      `## ${this.title}, Node ${process.versions.node.split('.')[0]}`, '',
      '### Forced errors (CreateKeyPair, one ready-made file of `scenarios/errors/` each)', '',
      ...grid(['Scenario file', 'Exception', 'Code', 'HTTP status', 'Attempts'], this.forced),
      '', '### Retryable errors and transport faults', '',
      ...grid(['Scenario effect', 'Connection', 'Action', 'Exception', 'Code', 'HTTP status', 'Detail', 'Attempts', 'Gaps'], this.faults),
    ].join('\n');
  }

  write() {
    let text = '';
    try {
      text = fs.readFileSync(DOC, 'utf8');
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
    const sections = {};
    for (const key of SECTIONS) {
      const esc = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const m = new RegExp(`<!-- BEGIN ${esc} -->\\n([\\s\\S]*?)\\n<!-- END ${esc} -->`).exec(text);
      if (m) sections[key] = m[1];
    }
    sections[this.key] = this.markdown();
    const parts = [CONF.header.join('\n')];
    for (const key of SECTIONS) {
      const body = sections[key] || `## ${key}\n\n_Not generated yet: run \`tests/sdk/run.sh ${key}\`._`;
      parts.push(`<!-- BEGIN ${key} -->\n${body}\n<!-- END ${key} -->`);
    }
    fs.writeFileSync(DOC, `${parts.join('\n\n')}\n`);
  }
}

async function main() {
  console.log('# node: @alicloud/ecs20140526 7.11.6 against ecs-mock');
  const mock = await startMock([]);
  // --credential refuses fixtures for other AccessKeyIds, so this server has none.
  const auth = await startMock(['--credential', 'sdk-known:known-secret'], { fixtures: false });
  // Scenarios are loaded and removed case by case here, away from the other cases.
  const forced = await startMock([], { fixtures: false });
  const table = new Table('node', 'node: @alicloud/ecs20140526 7.11.6 (V3 signatures)');
  let faults = null;
  let failed = 1;
  try {
    for (const algorithm of [null, 'v2']) {
      register(new Driver(mock.endpoint, algorithm));
      registerAuth(() => auth.endpoint, algorithm);
    }
    for (const algorithm of [null, 'v2']) {
      registerForced(new Driver(forced.endpoint, algorithm), () => forced.endpoint, algorithm ? null : table);
    }
    faults = registerFaults(table);
    test('node: its section of docs/sdk-conformance.md is written', async () => table.write());
    failed = await runAll();
  } finally {
    await mock.stop();
    await auth.stop();
    await forced.stop();
    if (faults) await faults.stop();
    fs.rmSync(keyDir, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
