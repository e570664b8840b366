//! Reading a signed OpenPGP message: packets walked (not `Message::verify`, which rejects
//! v3 signature packets), compressed data inflated with limits, and partial body lengths
//! re-framed so that rPGP parses what Go's OpenPGP writes.

use std::io::Read;

use pgp::packet::{Packet, PacketParser, PacketTrait, Signature};

use super::error::SignatureError;

/// More than any real signature decompresses to.
const MAX_INFLATED: u64 = 4 << 20;
/// Compressed packets nested deeper than this are refused.
const MAX_DEPTH: usize = 2;

/// The literal data and the signature packets of a signed message.
pub(crate) fn read_message(data: &[u8]) -> Result<(Vec<u8>, Vec<Signature>), SignatureError> {
    let (mut literal, mut signatures) = (None, Vec::new());
    collect_packets(data, 0, &mut literal, &mut signatures)?;
    if signatures.is_empty() {
        return Err(SignatureError::Unsigned);
    }
    Ok((literal.ok_or(SignatureError::NoLiteralData)?, signatures))
}

fn collect_packets(
    data: &[u8],
    depth: usize,
    literal: &mut Option<Vec<u8>>,
    signatures: &mut Vec<Signature>,
) -> Result<(), SignatureError> {
    let framed = reframe(data);
    for packet in PacketParser::new(framed.as_slice()) {
        match packet.map_err(malformed)? {
            Packet::CompressedData(compressed) => {
                if depth >= MAX_DEPTH {
                    return Err(SignatureError::TooDeep { depth: MAX_DEPTH });
                }
                let inflated = inflate(&compressed)?;
                collect_packets(&inflated, depth + 1, literal, signatures)?;
            }
            Packet::LiteralData(data) => {
                if literal.is_some() {
                    return Err(SignatureError::MultipleLiteralData);
                }
                *literal = Some(data.data().to_vec());
            }
            Packet::Signature(sig) => signatures.push(sig),
            Packet::OnePassSignature(_) | Packet::Marker(_) | Packet::Padding(_) => {}
            Packet::PublicKeyEncryptedSessionKey(_)
            | Packet::SymKeyEncryptedSessionKey(_)
            | Packet::SymEncryptedData(_)
            | Packet::SymEncryptedProtectedData(_)
            | Packet::GnupgAeadData(_) => return Err(SignatureError::Encrypted),
            other => return Err(SignatureError::UnexpectedPacket { tag: format!("{:?}", other.tag()) }),
        }
    }
    Ok(())
}

fn malformed(source: pgp::errors::Error) -> SignatureError {
    SignatureError::MalformedMessage { source: source.into() }
}

fn inflate(compressed: &pgp::packet::CompressedData) -> Result<Vec<u8>, SignatureError> {
    let decompressor = compressed.decompress().map_err(malformed)?;
    let mut out = Vec::new();
    decompressor
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|source| SignatureError::Decompress { source })?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(SignatureError::TooLarge { limit: MAX_INFLATED });
    }
    Ok(out)
}

/// Rewrites every new-format packet with partial body lengths into one with a definite
/// length: Go's OpenPGP starts partial bodies with chunks shorter than the 512 bytes rPGP
/// insists on. Anything not understood is copied verbatim for the parser to judge.
fn reframe(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut pos = 0;
    while pos < input.len() {
        let Some((consumed, packet)) = reframe_packet(&input[pos..]) else {
            out.extend_from_slice(&input[pos..]);
            break;
        };
        out.extend_from_slice(&packet);
        pos += consumed;
    }
    out
}

/// One packet at the start of `input`: (bytes consumed, bytes to emit), or `None` when the
/// rest of the input must be copied as it is (old-format indeterminate length, malformed).
fn reframe_packet(input: &[u8]) -> Option<(usize, Vec<u8>)> {
    let ctb = *input.first()?;
    if ctb & 0x80 == 0 {
        return None;
    }
    if ctb & 0x40 == 0 {
        let len_bytes = match ctb & 0x03 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => return None,
        };
        let len_field = input.get(1..1 + len_bytes)?;
        let len = len_field.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        let end = (1 + len_bytes).checked_add(len)?;
        return Some((end, input.get(..end)?.to_vec()));
    }
    let mut pos = 1;
    let mut body = Vec::new();
    loop {
        let (header_len, chunk_len, partial) = new_format_length(input.get(pos..)?)?;
        let start = pos + header_len;
        let end = start.checked_add(chunk_len)?;
        body.extend_from_slice(input.get(start..end)?);
        pos = end;
        if !partial {
            break;
        }
    }
    let mut packet = vec![ctb];
    packet.extend_from_slice(&encode_length(body.len())?);
    packet.extend_from_slice(&body);
    Some((pos, packet))
}

/// (octets of the length field, length, whether it is a partial body length).
fn new_format_length(field: &[u8]) -> Option<(usize, usize, bool)> {
    let first = usize::from(*field.first()?);
    match first {
        0..=191 => Some((1, first, false)),
        192..=223 => {
            let second = usize::from(*field.get(1)?);
            Some((2, ((first - 192) << 8) + second + 192, false))
        }
        224..=254 => Some((1, 1 << (first & 0x1f), true)),
        _ => {
            let bytes: [u8; 4] = field.get(1..5)?.try_into().ok()?;
            Some((5, usize::try_from(u32::from_be_bytes(bytes)).ok()?, false))
        }
    }
}

fn encode_length(len: usize) -> Option<Vec<u8>> {
    let len = u32::try_from(len).ok()?;
    let mut out = vec![0xff];
    out.extend_from_slice(&len.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_first_partial_body_length_is_reframed() {
        // Literal data packet (tag 11): a 256-byte partial chunk, then a 4-byte final chunk.
        let mut packet = vec![0xcb, 0xe8, b'b', 0, 0, 0, 0, 0];
        packet.extend(std::iter::repeat_n(b'x', 250));
        packet.extend_from_slice(&[4, b'y', b'y', b'y', b'y']);
        assert!(PacketParser::new(packet.as_slice()).any(|p| p.is_err()));
        let reframed = reframe(&packet);
        let parsed: Vec<Packet> =
            PacketParser::new(reframed.as_slice()).collect::<Result<_, _>>().expect("reframed packet parses");
        let [Packet::LiteralData(literal)] = parsed.as_slice() else {
            panic!("one literal packet expected, got {parsed:?}");
        };
        assert_eq!(literal.data().len(), 254);
    }
}
