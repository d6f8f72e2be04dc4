// Drives @huggingface/hub (the npm package pinned in package.json) for
// tests/interop/test_hub_cache.py.
//
//   node cache.mjs scan <cacheDir>
//       prints scanCacheDir(cacheDir) as JSON:
//       {"repos": [{"id", "type", "path", "size", "filesCount",
//                   "revisions": [{"commit", "refs", "size", "files": [{"name", "size", "blob"}]}]}],
//        "warnings": ["..."]}
//   node cache.mjs download <hubUrl> <repo> <cacheDir> [revision]
//       runs snapshotDownload into cacheDir against the hub at hubUrl and prints
//       {"snapshot": "<dir>"}
//   node cache.mjs scan-count <cacheDir>
//       runs scanCacheDir(cacheDir) once and prints only its totals, for bench/cache.py
//       (which times this process against `modl cache ls`):
//       {"repos", "revisions", "files", "filesCount", "size", "warnings", "scan_ms"}
//       files: snapshot files seen (summed over revisions); filesCount: distinct blobs
//       (summed over repos); scan_ms: the scanCacheDir call alone, measured in-process.
//
// Exits 2 on usage errors, 1 when the library throws (message on stderr).
import { basename } from "node:path";
import { scanCacheDir, snapshotDownload } from "@huggingface/hub";

function usage() {
	process.stderr.write(
		"usage: node cache.mjs scan <cacheDir>\n" +
			"       node cache.mjs download <hubUrl> <repo> <cacheDir> [revision]\n" +
			"       node cache.mjs scan-count <cacheDir>\n",
	);
	process.exit(2);
}

async function scan(cacheDir) {
	const info = await scanCacheDir(cacheDir);
	return {
		size: info.size,
		repos: info.repos.map((r) => ({
			id: r.id.name,
			type: r.id.type,
			path: r.path,
			size: r.size,
			filesCount: r.filesCount,
			revisions: r.revisions.map((v) => ({
				commit: v.commitOid,
				refs: [...v.refs].sort(),
				size: v.size,
				files: v.files
					.map((f) => ({ name: basename(f.path), size: f.blob.size, blob: f.blob.path }))
					.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
			})),
		})),
		warnings: info.warnings.map((w) => String(w && w.message ? w.message : w)),
	};
}

async function scanCount(cacheDir) {
	const t0 = performance.now();
	const info = await scanCacheDir(cacheDir);
	const scanMs = performance.now() - t0;
	let revisions = 0;
	let files = 0;
	let filesCount = 0;
	for (const r of info.repos) {
		revisions += r.revisions.length;
		filesCount += r.filesCount;
		for (const v of r.revisions) {
			files += v.files.length;
		}
	}
	return {
		repos: info.repos.length,
		revisions,
		files,
		filesCount,
		size: info.size,
		warnings: info.warnings.length,
		scan_ms: scanMs,
	};
}

async function download(hubUrl, repo, cacheDir, revision) {
	// The library logs "Downloading X to Y" through console.debug; keep stdout for the JSON.
	console.debug = (...a) => process.stderr.write(a.join(" ") + "\n");
	console.info = console.debug;
	let designation = repo;
	for (const t of ["dataset", "space"]) {
		if (repo.startsWith(t + "s/")) {
			designation = { type: t, name: repo.slice(t.length + 2) };
		}
	}
	const snapshot = await snapshotDownload({
		repo: designation,
		hubUrl,
		cacheDir,
		...(revision ? { revision } : {}),
	});
	return { snapshot };
}

const [cmd, ...args] = process.argv.slice(2);
let result;
try {
	if (cmd === "scan" && args.length === 1) {
		result = await scan(args[0]);
	} else if (cmd === "scan-count" && args.length === 1) {
		result = await scanCount(args[0]);
	} else if (cmd === "download" && (args.length === 3 || args.length === 4)) {
		result = await download(args[0], args[1], args[2], args[3]);
	} else {
		usage();
	}
} catch (err) {
	process.stderr.write(`cache.mjs ${cmd}: ${err && err.stack ? err.stack : err}\n`);
	process.exit(1);
}
process.stdout.write(JSON.stringify(result, null, 1) + "\n");
