/**
 * image/cache-key.ts: the keys that decide when the image build reuses a
 * cached layer. Pure: literal inputs, literal or relative outputs.
 */
import t from 'tap'
import { KEY_HEX_CHARS, cacheKey, dependencyManifest } from '../../image/cache-key.ts'

t.test('a key is a fixed-length hex string that depends on names and contents, not on order', async t => {
  const a = { name: 'image/debian-root.sh', content: 'mmdebstrap ...' }
  const b = { name: 'image/debian-packages.txt', content: 'systemd-sysv\nudev\n' }
  const key = cacheKey([a, b])
  t.match(key, new RegExp(`^[0-9a-f]{${KEY_HEX_CHARS}}$`))
  t.equal(cacheKey([b, a]), key, 'the order of the parts does not matter')
  t.equal(cacheKey([a, { ...b, content: Buffer.from(b.content) }]), key, 'bytes and the same text give the same key')
  t.not(cacheKey([a, { ...b, content: 'systemd-sysv\nudev\nnftables\n' }]), key, 'a changed package list changes the key')
  t.not(cacheKey([{ ...a, name: 'other.sh' }, b]), key, 'a renamed part changes the key')
  t.not(cacheKey([a]), key, 'a missing part changes the key')
})

t.test('parts cannot run into each other', async t => {
  // Without the length prefixes these two would hash the same bytes.
  t.not(cacheKey([{ name: 'a', content: 'bc' }]), cacheKey([{ name: 'ab', content: 'c' }]))
  t.not(cacheKey([{ name: 'x', content: '' }, { name: 'y', content: 'z' }]), cacheKey([{ name: 'x', content: 'z' }, { name: 'y', content: '' }]))
})

t.test('a part named twice is a programmer mistake', async t => {
  t.throws(() => cacheKey([{ name: 'a', content: '1' }, { name: 'a', content: '2' }]), TypeError)
})

t.test('the dependency manifest ignores what npm install --omit=dev does not read', async t => {
  const base = { name: 'tandem', version: '0.1.0', scripts: { test: 'tap' }, dependencies: { level: '^10.0.0' }, devDependencies: { tap: '^21' }, allowScripts: { 'zstd-napi': true } }
  const manifest = dependencyManifest(JSON.stringify(base))
  t.equal(dependencyManifest(JSON.stringify({ ...base, version: '0.2.0', scripts: {}, devDependencies: {} })), manifest, 'version, scripts and dev dependencies')
  t.not(dependencyManifest(JSON.stringify({ ...base, dependencies: { level: '^11.0.0' } })), manifest, 'a dependency')
  t.not(dependencyManifest(JSON.stringify({ ...base, allowScripts: {} })), manifest, 'the install scripts allowed')
})
