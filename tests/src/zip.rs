//! A zip writer for fixtures: stored (uncompressed) entries with fixed times, as wheels and NLTK
//! data packages need them, without a zip dependency.

/// A zip archive of stored (uncompressed) entries, every time 1980-01-01 00:00, mode 0644.
pub fn zip_stored(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut central: Vec<u8> = Vec::new();
    let (time, date) = (0u16, (1u16 << 5) | 1);
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let offset = out.len() as u32;
        let size = data.len() as u32;
        let n = name.as_bytes();
        out.extend(0x0403_4b50u32.to_le_bytes());
        for v in [20u16, 0, 0, time, date] {
            out.extend(v.to_le_bytes());
        }
        for v in [crc, size, size] {
            out.extend(v.to_le_bytes());
        }
        out.extend((n.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(n);
        out.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        for v in [(3u16 << 8) | 20, 20, 0, 0, time, date] {
            out_extend(&mut central, v);
        }
        for v in [crc, size, size] {
            central.extend(v.to_le_bytes());
        }
        for v in [n.len() as u16, 0, 0, 0, 0] {
            out_extend(&mut central, v);
        }
        central.extend((0o100_644u32 << 16).to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(n);
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, entries.len() as u16, entries.len() as u16] {
        out.extend(v.to_le_bytes());
    }
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn out_extend(v: &mut Vec<u8>, x: u16) {
    v.extend(x.to_le_bytes());
}
