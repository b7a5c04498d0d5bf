/**
 * image/package-layout.ts: what the .deb and the tarball hold beside /opt/tandem,
 * and their control file. Pure: literal inputs. The package itself is built and
 * installed by `npm run package` and `npm run package:check`, not here.
 */
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { APPLIANCE_PACKAGES, MAINTAINER_SCRIPTS, PACKAGE_FILES, TARBALL_FILES, changelogFile, controlFile, debianVersion, dependsField, imagePackages } from '../../image/package-layout.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

t.test('every file the package takes exists, and the image\'s units are shared, not copied', async t => {
  for (const file of [...PACKAGE_FILES, ...TARBALL_FILES, ...MAINTAINER_SCRIPTS.map(name => ({ from: `image/package/${name}` }))]) {
    t.ok(existsSync(join(ROOT, file.from)), file.from)
  }
  const units = PACKAGE_FILES.filter(f => f.to.startsWith('usr/lib/systemd/system/') && f.to.endsWith('.service'))
  t.same(units.map(f => f.from), ['image/files/etc/systemd/system/tandem.service', 'image/files/etc/systemd/system/tandem-firstboot.service'])
  t.same(new Set(PACKAGE_FILES.map(f => f.to)).size, PACKAGE_FILES.length, 'no two files at one place')
  t.notOk(PACKAGE_FILES.some(f => f.to.startsWith('usr/local/') || f.to.startsWith('etc/')), 'nothing in /usr/local or /etc (the admin\'s)')
})

t.test('the units run the bundled Node, which the package has at the same path as the image', async t => {
  for (const from of ['image/files/etc/systemd/system/tandem.service', 'image/files/etc/systemd/system/tandem-firstboot.service', 'image/files/usr/local/bin/tandem']) {
    t.match(readFileSync(join(ROOT, from), 'utf8'), /\/opt\/tandem\/node\/bin\/node \/opt\/tandem\/app\/bin\/tandem\.js/, from)
  }
})

t.test('Depends: the host\'s needs and the appliance\'s packages, which must be the image\'s', async t => {
  const list = 'systemd-sysv  # init\n# what the appliance drives\nqemu-system-x86  # VMs\nqemu-utils\novmf # firmware\n'
  t.same([...imagePackages(list)], ['systemd-sysv', 'qemu-system-x86', 'qemu-utils', 'ovmf'])
  const depends = dependsField(list)
  for (const name of APPLIANCE_PACKAGES) t.match(depends, name)
  t.match(depends, /^systemd \(>= 252\), libc6 \(>= 2\.28\)/)
  t.throws(() => dependsField('qemu-utils\novmf\n'), TypeError, 'qemu-system-x86 missing from the image')
  t.doesNotThrow(() => dependsField(readFileSync(join(ROOT, 'image/debian-packages.txt'), 'utf8')), 'the real list')
})

t.test('Debian versions sort as semver\'s', async t => {
  t.equal(debianVersion('0.1.0'), '0.1.0')
  t.equal(debianVersion('1.2.3-rc.1'), '1.2.3~rc.1')
  t.equal(debianVersion('1.2.3+build.5'), '1.2.3+build.5')
  t.throws(() => debianVersion('1.2'), TypeError)
  t.throws(() => debianVersion('1.2.3 evil'), TypeError)
})

t.test('the control file and the changelog', async t => {
  const control = controlFile({ version: '0.1.0', installedSizeKiB: 216064, depends: 'systemd (>= 252), qemu-utils' })
  t.match(control, /^Package: tandem\nVersion: 0\.1\.0\nArchitecture: amd64\n/)
  t.match(control, /\nInstalled-Size: 216064\n/)
  t.match(control, /\nDepends: systemd \(>= 252\), qemu-utils\n/)
  t.ok(control.endsWith('\n'), 'ends with a newline')
  const synopsis = /\nDescription: (.*)\n/.exec(control)?.[1] ?? ''
  t.ok(synopsis.length > 0 && synopsis.length < 80, 'a one-line synopsis under 80 characters')
  t.equal(changelogFile('0.1.0', 0).split('\n')[0], 'tandem (0.1.0) unstable; urgency=medium')
  t.match(changelogFile('0.1.0', 0), / -- .* <.*>  Thu, 01 Jan 1970 00:00:00 \+0000\n$/)
})
