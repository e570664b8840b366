//! Deterministic content for synthetic images: a tiny PRNG, gzip'd tar layers built in
//! memory, and one big layer generated on the fly so it never sits in memory.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::{Mutex, OnceLock};

use flate2::read::GzEncoder;
use flate2::write::GzEncoder as GzWriter;
use flate2::Compression;
use sha2::{Digest, Sha256};

/// xorshift64* generator: deterministic, fast, good enough for test content.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded from `seed` and a list of labels (component name, layer kind…).
    pub fn new(seed: u64, labels: &[&str]) -> Self {
        // FNV-1a over the labels, then splitmix64 so nearby seeds diverge.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
        for label in labels {
            for b in label.bytes().chain(std::iter::once(0xff)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        XorShift(if z == 0 { 1 } else { z })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// `sha256:<hex>` of `data`.
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A blob held in memory.
#[derive(Clone, Debug)]
pub struct Blob {
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(data: Vec<u8>) -> Self {
        Blob { digest: digest(&data), data }
    }
}

/// A gzip'd tar layer: the compressed blob and the digest of the uncompressed tar
/// (the image config's `rootfs.diff_ids` entry).
#[derive(Clone, Debug)]
pub struct Layer {
    pub blob: Blob,
    pub diff_id: String,
}

fn tar_header(path: &str, size: u64, dir: bool) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_path(path).expect("tar path");
    header.set_size(size);
    header.set_mode(if dir { 0o755 } else { 0o644 });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
    header.set_cksum();
    header
}

/// Build a gzip'd tar layer from `(path, content)` files. Parent directories named by a
/// path ending in `/` with empty content become directory entries.
pub fn layer(files: &[(&str, &[u8])]) -> Layer {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let dir = path.ends_with('/');
        let header = tar_header(path, content.len() as u64, dir);
        builder.append(&header, *content).expect("append to tar");
    }
    let tar = builder.into_inner().expect("finish tar");
    let diff_id = digest(&tar);
    let mut gz = GzWriter::new(Vec::new(), Compression::fast());
    gz.write_all(&tar).expect("gzip layer");
    let compressed = gz.finish().expect("finish gzip");
    Layer { blob: Blob::new(compressed), diff_id }
}

/// A layer holding one file of `size` pseudo-random bytes at `path`.
pub fn random_layer(rng: &mut XorShift, path: &str, size: usize) -> Layer {
    let content = rng.bytes(size);
    layer(&[(path, &content)])
}

/// Size of the repeating random block of the big layer.
const BLOCK: usize = 1 << 20;

/// The uncompressed tar stream of the big layer: one regular file of `size` bytes.
/// Content is a 1 MiB random block repeated, with each block's first 8 bytes
/// replaced by its index, so it is cheap to produce and has no repeats a
/// compressor could exploit across 1 MiB windows.
struct BigTar {
    header: [u8; 512],
    block: Vec<u8>,
    size: u64,
    total: u64,
    pos: u64,
}

impl BigTar {
    fn new(seed: u64, size: u64) -> Self {
        let header = tar_header("opt/big/blob.bin", size, false);
        let mut raw = [0u8; 512];
        raw.copy_from_slice(header.as_bytes());
        let padded = size.div_ceil(512) * 512;
        BigTar {
            header: raw,
            block: XorShift::new(seed, &["big-layer"]).bytes(BLOCK),
            size,
            total: 512 + padded + 1024,
            pos: 0,
        }
    }
}

impl Read for BigTar {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.total || buf.is_empty() {
            return Ok(0);
        }
        let n = if self.pos < 512 {
            let start = self.pos as usize;
            let n = buf.len().min(512 - start);
            buf[..n].copy_from_slice(&self.header[start..start + n]);
            n
        } else if self.pos - 512 < self.size {
            let offset = self.pos - 512;
            let index = offset / BLOCK as u64;
            let within = (offset % BLOCK as u64) as usize;
            let left = usize::try_from(self.size - offset).unwrap_or(usize::MAX);
            let n = buf.len().min(BLOCK - within).min(left);
            buf[..n].copy_from_slice(&self.block[within..within + n]);
            if within < 8 {
                let stamp = index.to_le_bytes();
                let m = n.min(8 - within);
                buf[..m].copy_from_slice(&stamp[within..within + m]);
            }
            n
        } else {
            let left = usize::try_from(self.total - self.pos).unwrap_or(usize::MAX);
            let n = buf.len().min(left);
            buf[..n].fill(0);
            n
        };
        self.pos += n as u64;
        Ok(n)
    }
}

/// Wraps a reader and hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A big layer described by its seed and size; its bytes are regenerated on demand.
#[derive(Clone, Debug)]
pub struct BigLayer {
    pub seed: u64,
    /// Size of the file inside the tar (the requested size).
    pub content_size: u64,
    /// Size of the compressed blob (gzip with stored blocks: slightly above content).
    pub blob_size: u64,
    pub digest: String,
    pub diff_id: String,
}

impl BigLayer {
    /// Compute digest, diff_id and blob size in one streaming pass.
    pub fn new(seed: u64, content_size: u64) -> Self {
        let tar = HashingReader { inner: BigTar::new(seed, content_size), hasher: Sha256::new(), count: 0 };
        let mut gz = GzEncoder::new(tar, Compression::none());
        let mut hasher = Sha256::new();
        let mut blob_size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = gz.read(&mut buf).expect("generate big layer");
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            blob_size += n as u64;
        }
        let tar = gz.into_inner();
        BigLayer {
            seed,
            content_size,
            blob_size,
            digest: format!("sha256:{}", hex::encode(hasher.finalize())),
            diff_id: format!("sha256:{}", hex::encode(tar.hasher.finalize())),
        }
    }

    /// A fresh reader over the compressed blob, `blob_size` bytes long.
    pub fn reader(&self) -> impl Read + Send + 'static {
        GzEncoder::new(BigTar::new(self.seed, self.content_size), Compression::none())
    }
}

/// Digests of streamed layers already computed in this process, by (seed, size): a series
/// of releases shares most layers, and each costs a full pass to describe.
fn big_layer_cache() -> &'static Mutex<HashMap<(u64, u64), BigLayer>> {
    static CACHE: OnceLock<Mutex<HashMap<(u64, u64), BigLayer>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

impl BigLayer {
    /// [`BigLayer::new`], computed once per process for each (seed, size).
    pub fn cached(seed: u64, content_size: u64) -> Self {
        if let Some(layer) = big_layer_cache().lock().expect("layer cache").get(&(seed, content_size)) {
            return layer.clone();
        }
        let layer = BigLayer::new(seed, content_size);
        big_layer_cache().lock().expect("layer cache").insert((seed, content_size), layer.clone());
        layer
    }

    /// Describe every (seed, size) not yet cached, on all cores (one streaming pass each,
    /// largest first; memory: one 1 MiB block and a 256 KiB buffer per thread).
    pub fn prepare(layers: &[(u64, u64)]) {
        let mut todo: Vec<(u64, u64)> = {
            let cache = big_layer_cache().lock().expect("layer cache");
            layers.iter().copied().filter(|key| !cache.contains_key(key)).collect()
        };
        todo.sort_unstable_by_key(|&(_, size)| std::cmp::Reverse(size));
        todo.dedup();
        let queue = Mutex::new(todo.into_iter());
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let next = queue.lock().expect("layer queue").next();
                    let Some((seed, size)) = next else { break };
                    BigLayer::cached(seed, size);
                });
            }
        });
    }
}
