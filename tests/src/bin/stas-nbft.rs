//! `stas-nbft`: writes an NBFT (NVMe Boot Firmware Table) described on the command line, for
//! the real-kernel rig, which hands it to qemu with `-acpitable file=FILE` so that the guest
//! sees `/sys/firmware/acpi/tables/NBFT`. The table is made by
//! `libstas::proto::nbft::build` and parsed back before it is written: a table with a
//! problem (an SSNS naming an HFI that does not exist, say) is an error.
//!
//! ```text
//! stas-nbft --out FILE [--host-nqn NQN] [--host-id UUID] [--minor 0|1]
//!           [--host-nqn-unconfigured] [--host-id-unconfigured]
//!           [--primary-admin not-indicated|unselected|selected]
//!           [--hfi SPEC]... [--security SPEC]... [--discovery SPEC]... [--ssns SPEC]...
//! stas-nbft --show FILE            parse a table and print what it holds
//! stas-nbft --write-samples DIR    write libstas's sample tables as DIR/seed-<name>
//!                                  (the fuzz corpus seeds: fuzz/corpus/nbft)
//! ```
//!
//! Each descriptor SPEC is a comma-separated list of `key=value` and bare flags; `index`
//! defaults to the descriptor's position among those of its kind (1-based):
//!
//! ```text
//! --hfi        mac=52:54:00:12:34:56[,ip=10.0.2.15/24][,gateway=IP][,dhcp-server=IP]
//!              [,dns=IP][,dns2=IP][,vlan=N][,metric=N][,origin=N][,pci=BB:DD.F|SSSS:BB:DD.F|0xN]
//!              [,host-name=NAME][,default-route][,dhcp-override][,index=N]
//! --security   path=URI[,type=N][,flags=N][,index=N]
//! --discovery  uri=nvme+tcp://127.0.0.1:8009/[,nqn=NQN][,hfi=N][,security=N][,index=N]
//!              (no nqn: the well-known discovery NQN)
//! --ssns       traddr=IP,nqn=NQN[,trsvcid=4420][,hfi=N][,secondary=N:N...][,discovery=N]
//!              [,security=N][,nsid=1][,port-id=N][,nguid=HEX32|uuid=UUID|eui64=HEX16]
//!              [,hdr-digest][,data-digest][,non-bootable][,cntlid=N][,asqsz=N][,index=N]
//! ```
//!
//! Example:
//!
//! ```text
//! stas-nbft --out nbft.bin --host-nqn nqn.2014-08.org.nvmexpress:uuid:… --host-id … \
//!   --hfi mac=52:54:00:12:34:56,ip=10.0.2.15/24 \
//!   --discovery uri=nvme+tcp://10.0.2.2:8009/,hfi=1 \
//!   --ssns traddr=10.0.2.2,trsvcid=4420,nqn=nqn.2024-01.io.example:boot,hfi=1,discovery=1
//! ```
//!
//! Exit status: 0 success, 1 the table could not be written or has a problem, 2 usage error.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use libstas::proto::nbft::build::{
    samples, DiscoverySpec, HfiSpec, SecuritySpec, SsnsSpec, TableSpec,
};
use libstas::proto::nbft::{parse, ssns_flags, Host, PrimaryAdmin, SsnsExtInfo};

#[derive(Parser)]
#[command(
    name = "stas-nbft",
    about = "Write an NBFT (ACPI NVMe Boot Firmware Table) for qemu -acpitable, or show one",
    after_help = "Descriptor SPECs are comma-separated key=value pairs and flags; see the \
                  per-option help. Indexes default to the position among descriptors of the \
                  same kind (1-based)."
)]
struct Cli {
    /// Write the table to FILE.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["show", "write_samples"])]
    out: Option<PathBuf>,
    /// Parse the table in FILE and print it (instead of writing one).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["out", "write_samples"])]
    show: Option<PathBuf>,
    /// Write the sample tables of libstas to DIR/seed-<name> (the fuzz seeds).
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    write_samples: Option<PathBuf>,
    /// Host NQN (marked configured unless --host-nqn-unconfigured).
    #[arg(long, value_name = "NQN")]
    host_nqn: Option<String>,
    /// Host ID, a UUID (marked configured unless --host-id-unconfigured).
    #[arg(long, value_name = "UUID")]
    host_id: Option<String>,
    /// Clear the host descriptor's "host NQN configured" flag.
    #[arg(long)]
    host_nqn_unconfigured: bool,
    /// Clear the host descriptor's "host ID configured" flag.
    #[arg(long)]
    host_id_unconfigured: bool,
    /// Primary administrative host flag.
    #[arg(long, value_enum, default_value_t = Admin::NotIndicated)]
    primary_admin: Admin,
    /// Minor revision in the header (libnvme before minor revision 1 support needs 0).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    minor: u8,
    /// A host fabric interface: mac=…[,ip=ADDR/PREFIX][,gateway=IP][,dhcp-server=IP][,dns=IP]
    /// [,dns2=IP][,vlan=N][,metric=N][,origin=N][,pci=BB:DD.F][,host-name=S][,default-route]
    /// [,dhcp-override][,index=N].
    #[arg(long = "hfi", value_name = "SPEC", value_parser = hfi_spec)]
    hfis: Vec<HfiSpec>,
    /// A security profile: path=URI[,type=N][,flags=N][,index=N].
    #[arg(long = "security", value_name = "SPEC", value_parser = security_spec)]
    security: Vec<SecuritySpec>,
    /// A discovery controller: uri=nvme+tcp://HOST[:PORT]/[,nqn=NQN][,hfi=N][,security=N]
    /// [,index=N]; without nqn, the well-known discovery NQN.
    #[arg(long = "discovery", value_name = "SPEC", value_parser = discovery_spec)]
    discovery: Vec<DiscoverySpec>,
    /// A boot namespace: traddr=IP,nqn=NQN[,trsvcid=4420][,hfi=N][,secondary=N:N][,discovery=N]
    /// [,security=N][,nsid=1][,port-id=N][,nguid=HEX|uuid=UUID|eui64=HEX][,hdr-digest]
    /// [,data-digest][,non-bootable][,cntlid=N][,asqsz=N][,index=N].
    #[arg(long = "ssns", value_name = "SPEC", value_parser = ssns_spec)]
    subsystems: Vec<SsnsSpec>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Admin {
    NotIndicated,
    Unselected,
    Selected,
}

/// `key=value` pairs and bare flags of one SPEC, consumed by the typed getters; what is left
/// at the end is an unknown key.
struct Kv(Vec<(String, Option<String>)>);

impl Kv {
    fn new(spec: &str) -> Result<Self, String> {
        let mut v: Vec<(String, Option<String>)> = Vec::new();
        for item in spec.split(',').filter(|s| !s.is_empty()) {
            let (k, val) = match item.split_once('=') {
                Some((k, val)) => (k, Some(val.to_owned())),
                None => (item, None),
            };
            if v.iter().any(|(x, _)| x == k) {
                return Err(format!("{k} given twice"));
            }
            v.push((k.to_owned(), val));
        }
        Ok(Self(v))
    }

    fn take(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.0.iter().position(|(k, _)| k == key) {
            None => Ok(None),
            Some(i) => match self.0.remove(i) {
                (_, Some(v)) => Ok(Some(v)),
                (k, None) => Err(format!("{k} needs a value ({k}=…)")),
            },
        }
    }

    fn flag(&mut self, key: &str) -> Result<bool, String> {
        match self.0.iter().position(|(k, _)| k == key) {
            None => Ok(false),
            Some(i) => match self.0.remove(i) {
                (_, None) => Ok(true),
                (k, Some(_)) => Err(format!("{k} is a flag and takes no value")),
            },
        }
    }

    fn required(&mut self, key: &str) -> Result<String, String> {
        self.take(key)?
            .ok_or_else(|| format!("{key}=… is required"))
    }

    fn num<T: std::str::FromStr>(&mut self, key: &str) -> Result<Option<T>, String> {
        self.take(key)?
            .map(|v| {
                let (digits, radix) = match v.strip_prefix("0x") {
                    Some(h) => (h.to_owned(), 16),
                    None => (v.clone(), 10),
                };
                let n = u64::from_str_radix(&digits, radix)
                    .map_err(|_| format!("{key}={v}: not a number"))?;
                n.to_string()
                    .parse::<T>()
                    .map_err(|_| format!("{key}={v}: out of range"))
            })
            .transpose()
    }

    fn ip(&mut self, key: &str) -> Result<Option<IpAddr>, String> {
        self.take(key)?
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("{key}={v}: not an IP address"))
            })
            .transpose()
    }

    /// An index: 1–255 (0 means "none" in the table, so it cannot be given).
    fn index(&mut self, key: &str) -> Result<Option<u8>, String> {
        match self.num::<u8>(key)? {
            Some(0) => Err(format!("{key}=0: indexes start at 1")),
            i => Ok(i),
        }
    }

    fn done(self) -> Result<(), String> {
        match self.0.first() {
            None => Ok(()),
            Some((k, _)) => Err(format!("unknown key {k}")),
        }
    }
}

fn hex_bytes(v: &str, len: usize) -> Result<Vec<u8>, String> {
    let digits: String = v.chars().filter(|c| *c != '-' && *c != ':').collect();
    if digits.len() != 2 * len || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{v}: {len} bytes in hex expected"));
    }
    (0..len)
        .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn pci_sbdf(v: &str) -> Result<u32, String> {
    if let Some(h) = v.strip_prefix("0x") {
        return u32::from_str_radix(h, 16).map_err(|_| format!("pci={v}: bad hex"));
    }
    let bad = || format!("pci={v}: [SSSS:]BB:DD.F or 0xN expected");
    let parts: Vec<&str> = v.split(':').collect();
    let (seg, bus, devfn) = match parts.as_slice() {
        [b, d] => ("0", *b, *d),
        [s, b, d] => (*s, *b, *d),
        _ => return Err(bad()),
    };
    let (dev, func) = devfn.split_once('.').ok_or_else(bad)?;
    let hex = |s: &str| u32::from_str_radix(s, 16).map_err(|_| bad());
    let (seg, bus, dev, func) = (hex(seg)?, hex(bus)?, hex(dev)?, hex(func)?);
    if seg > 0xffff || bus > 0xff || dev > 0x1f || func > 7 {
        return Err(bad());
    }
    Ok(seg << 16 | bus << 8 | dev << 3 | func)
}

fn hfi_spec(spec: &str) -> Result<HfiSpec, String> {
    let mut kv = Kv::new(spec)?;
    let mac = kv.required("mac")?;
    let mac: [u8; 6] = hex_bytes(&mac, 6)?
        .try_into()
        .map_err(|_| format!("mac={mac}: six bytes expected"))?;
    let (ip, prefix) = match kv.take("ip")? {
        None => (None, 0),
        Some(v) => {
            let (a, p) = v
                .split_once('/')
                .ok_or_else(|| format!("ip={v}: ADDRESS/PREFIX expected"))?;
            let a: IpAddr = a.parse().map_err(|_| format!("ip={v}: bad address"))?;
            let max = if a.is_ipv4() { 32 } else { 128 };
            let p: u8 = p
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("ip={v}: bad prefix length"))?;
            (Some(a), p)
        }
    };
    let mut h = HfiSpec {
        ip,
        ..HfiSpec::new(
            kv.index("index")?.unwrap_or(0),
            mac,
            IpAddr::from([0; 4]),
            prefix,
        )
    };
    h.gateway = kv.ip("gateway")?;
    h.dhcp_server = kv.ip("dhcp-server")?;
    h.primary_dns = kv.ip("dns")?;
    h.secondary_dns = kv.ip("dns2")?;
    h.vlan = kv.num("vlan")?.unwrap_or(0);
    h.route_metric = kv.num("metric")?.unwrap_or(0);
    h.ip_origin = kv.num("origin")?.unwrap_or(0);
    h.pci_sbdf = kv
        .take("pci")?
        .map(|v| pci_sbdf(&v))
        .transpose()?
        .unwrap_or(0);
    h.host_name = kv.take("host-name")?;
    h.global_route = kv.flag("default-route")?;
    h.dhcp_override = kv.flag("dhcp-override")?;
    kv.done()?;
    Ok(h)
}

fn security_spec(spec: &str) -> Result<SecuritySpec, String> {
    let mut kv = Kv::new(spec)?;
    let path = kv.required("path")?;
    let mut s = SecuritySpec::new(kv.index("index")?.unwrap_or(0), &path);
    s.secret_type = kv.num("type")?.unwrap_or(s.secret_type);
    s.flags = kv.num("flags")?.unwrap_or(s.flags);
    kv.done()?;
    Ok(s)
}

fn discovery_spec(spec: &str) -> Result<DiscoverySpec, String> {
    let mut kv = Kv::new(spec)?;
    let uri = kv.required("uri")?;
    if libstas::proto::nbft::parse_uri(&uri).is_none() {
        return Err(format!("uri={uri}: not an nvme+tcp://HOST[:PORT]/ URI"));
    }
    let mut d = DiscoverySpec::new(kv.index("index")?.unwrap_or(0), &uri);
    d.nqn = kv.take("nqn")?;
    d.hfi = kv.index("hfi")?;
    d.security = kv.index("security")?;
    kv.done()?;
    Ok(d)
}

fn ssns_spec(spec: &str) -> Result<SsnsSpec, String> {
    let mut kv = Kv::new(spec)?;
    let traddr = kv
        .ip("traddr")?
        .ok_or_else(|| "traddr=… is required".to_owned())?;
    let nqn = kv.required("nqn")?;
    let trsvcid = kv.take("trsvcid")?.unwrap_or_else(|| "4420".to_owned());
    let index = match kv.num::<u16>("index")? {
        Some(0) => return Err("index=0: indexes start at 1".to_owned()),
        i => i.unwrap_or(0),
    };
    let mut s = SsnsSpec::new(index, traddr, &trsvcid, &nqn);
    s.primary_hfi = kv.index("hfi")?;
    if let Some(v) = kv.take("secondary")? {
        s.secondary_hfis = v
            .split(':')
            .map(|i| match i.parse::<u8>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("secondary={v}: HFI indexes 1-255 separated by ':'")),
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(d) = kv.index("discovery")? {
        s = s.with_discovery(d);
    }
    if let Some(x) = kv.index("security")? {
        s = s.with_security(x);
    }
    s.nsid = kv.num("nsid")?.unwrap_or(1);
    s.port_id = kv.num("port-id")?.unwrap_or(0);
    for (key, nid_type, len) in [("eui64", 1u8, 8usize), ("nguid", 2, 16), ("uuid", 3, 16)] {
        if let Some(v) = kv.take(key)? {
            if s.nid_type != 0 {
                return Err("give one of eui64, nguid, uuid".to_owned());
            }
            let b = hex_bytes(&v, len)?;
            s.nid_type = nid_type;
            s.nid[..len].copy_from_slice(&b);
        }
    }
    s.hdr_digest = kv.flag("hdr-digest")?;
    s.data_digest = kv.flag("data-digest")?;
    if kv.flag("non-bootable")? {
        s.flags |= ssns_flags::NON_BOOTABLE;
    }
    let cntlid = kv.num::<u16>("cntlid")?;
    let asqsz = kv.num::<u16>("asqsz")?;
    if cntlid.is_some() || asqsz.is_some() {
        s.extended = Some(SsnsExtInfo {
            controller_id: cntlid.unwrap_or(0),
            asqsz,
            dhcp_root_path: None,
        });
    }
    kv.done()?;
    Ok(s)
}

/// 1-based position for descriptors given without an index.
fn position(i: usize) -> Result<u8> {
    u8::try_from(i + 1).context("at most 255 descriptors of each kind")
}

fn table_spec(cli: &Cli) -> Result<TableSpec> {
    let mut spec = TableSpec {
        host: Host {
            nqn: cli.host_nqn.clone(),
            nqn_configured: cli.host_nqn.is_some() && !cli.host_nqn_unconfigured,
            id_configured: cli.host_id.is_some() && !cli.host_id_unconfigured,
            primary_admin: match cli.primary_admin {
                Admin::NotIndicated => PrimaryAdmin::NotIndicated,
                Admin::Unselected => PrimaryAdmin::Unselected,
                Admin::Selected => PrimaryAdmin::Selected,
            },
            ..Host::default()
        },
        minor: cli.minor,
        hfis: cli.hfis.clone(),
        subsystems: cli.subsystems.clone(),
        discovery: cli.discovery.clone(),
        security: cli.security.clone(),
    };
    if let Some(id) = &cli.host_id {
        spec.host.id = Some(id.parse().with_context(|| format!("--host-id {id}"))?);
    }
    for (i, h) in spec.hfis.iter_mut().enumerate() {
        if h.index == 0 {
            h.index = position(i)?;
        }
    }
    for (i, s) in spec.security.iter_mut().enumerate() {
        if s.index == 0 {
            s.index = position(i)?;
        }
    }
    for (i, d) in spec.discovery.iter_mut().enumerate() {
        if d.index == 0 {
            d.index = position(i)?;
        }
    }
    for (i, s) in spec.subsystems.iter_mut().enumerate() {
        if s.index == 0 {
            s.index = u16::from(position(i)?);
        }
    }
    Ok(spec)
}

fn write_table(cli: &Cli, out: &Path) -> Result<bool> {
    let bytes = table_spec(cli)?.build();
    let parsed = parse("NBFT", &bytes).context("the built table does not parse")?;
    if !parsed.problems.is_empty() {
        for p in &parsed.problems {
            eprintln!("stas-nbft: {p}");
        }
        bail!("the table has problems (see above); nothing written");
    }
    fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let t = &parsed.table;
    println!(
        "{}: {} bytes, {} HFI, {} SSNS, {} discovery, {} security descriptors",
        out.display(),
        bytes.len(),
        t.hfis.len(),
        t.subsystems.len(),
        t.discovery.len(),
        t.security.len()
    );
    Ok(true)
}

fn show(file: &Path) -> Result<bool> {
    let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_name()
        .map_or_else(|| "NBFT".into(), |n| n.to_string_lossy().into_owned());
    let parsed = parse(&name, &bytes)?;
    println!("{:#?}", parsed.table);
    for p in &parsed.problems {
        println!("problem: {p}");
    }
    Ok(parsed.problems.is_empty())
}

fn write_samples(dir: &Path) -> Result<bool> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, spec) in samples() {
        let bytes = spec.build();
        let path = dir.join(format!("seed-{name}"));
        fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(true)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = if let Some(file) = &cli.show {
        show(file)
    } else if let Some(dir) = &cli.write_samples {
        write_samples(dir)
    } else if let Some(out) = &cli.out {
        write_table(&cli, out)
    } else {
        Ok(false)
    };
    match res {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("stas-nbft: {e:#}");
            ExitCode::from(1)
        }
    }
}
