//! The devnet's own runtime metadata: the part of subtensor it implements, described in code.
//!
//! Served as V14 (`state_getMetadata`, what older SDKs such as the Python `scalecodec` stack parse)
//! and V15 (`Metadata_metadata_at_version`, with runtime APIs and outer enums, what subxt reads).
//! Pallet, call, event and error indices, argument and storage types, hashers and runtime-API
//! signatures follow subtensor's runtime; `tests/devnet_metadata.rs` holds every item here against
//! Finney's own metadata and fails on drift. Type paths are subtensor's too, because clients look
//! some of them up by path (subxt finds `sp_runtime::DispatchError` that way).
//!
//! Types are written as small expressions (`"Option<Compact<u64>>"`, `"(u16, AccountId32)"`) over
//! named types defined earlier in [`build`]; the table reads like the runtime's own declarations.

use std::collections::{BTreeMap, HashMap};

use codec::Encode;
use scale_info::form::PortableForm;
use scale_info::{
    Field, Path, PortableRegistry, PortableRegistryBuilder, Type, TypeDef, TypeDefArray, TypeDefCompact,
    TypeDefComposite, TypeDefPrimitive, TypeDefSequence, TypeDefTuple, TypeDefVariant, TypeParameter,
    Variant,
};
use subxt::ext::frame_metadata::RuntimeMetadataPrefixed;
use subxt::ext::frame_metadata::v14::{
    self, PalletCallMetadata, PalletConstantMetadata, PalletErrorMetadata, PalletEventMetadata,
    PalletStorageMetadata, SignedExtensionMetadata, StorageEntryMetadata, StorageEntryModifier,
    StorageEntryType, StorageHasher,
};
use subxt::ext::frame_metadata::v15::{
    self, CustomMetadata, OuterEnums, RuntimeApiMetadata, RuntimeApiMethodMetadata,
    RuntimeApiMethodParamMetadata,
};

/// SCALE-encoded `RuntimeMetadataPrefixed` blobs, by metadata version.
#[derive(Clone, Debug)]
pub struct MetadataSet {
    by_version: BTreeMap<u32, Vec<u8>>,
    own: bool,
}

/// The slot duration [`MetadataSet::kindred`] reports: the devnet's default block time.
pub const DEFAULT_SLOT_MS: u64 = 250;

impl MetadataSet {
    /// Kindred's own description of the subtensor subset the devnet implements (V14 and V15).
    pub fn kindred() -> MetadataSet {
        MetadataSet::kindred_for(DEFAULT_SLOT_MS)
    }

    /// Kindred's own metadata for a chain producing a block every `slot_ms` milliseconds
    /// (`Aura::SlotDuration`, which clients turn into wall-clock time for timelocked commits).
    pub fn kindred_for(slot_ms: u64) -> MetadataSet {
        let built = build_for(slot_ms);
        MetadataSet {
            by_version: BTreeMap::from([(14, built.v14), (15, built.v15)]),
            own: true,
        }
    }

    /// Whether this is Kindred's own description (rather than a node's file), so that the devnet
    /// may rebuild it for its block time.
    pub fn is_own(&self) -> bool {
        self.own
    }

    /// One metadata blob from elsewhere (for example a real node's), served as every version.
    pub fn single(bytes: Vec<u8>) -> MetadataSet {
        let version = u32::from(bytes.get(4).copied().unwrap_or(14));
        MetadataSet {
            by_version: BTreeMap::from([(version, bytes)]),
            own: false,
        }
    }

    /// The versions `Metadata_metadata_versions` reports.
    pub fn versions(&self) -> Vec<u32> {
        self.by_version.keys().copied().collect()
    }

    pub fn at_version(&self, version: u32) -> Option<&[u8]> {
        self.by_version.get(&version).map(Vec::as_slice)
    }

    /// What `state_getMetadata` and `Metadata_metadata` answer: the oldest version held, as a
    /// Substrate node answers V14 there whatever else it knows.
    pub fn legacy(&self) -> &[u8] {
        self.by_version.values().next().map(Vec::as_slice).unwrap_or(&[])
    }

    /// The richest version, which the devnet itself decodes and encodes with.
    pub fn latest(&self) -> &[u8] {
        self.by_version
            .values()
            .next_back()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// The built metadata in both versions, SCALE-encoded with the `meta` prefix.
#[derive(Clone, Debug)]
pub struct Built {
    pub v14: Vec<u8>,
    pub v15: Vec<u8>,
}

/// The error names the devnet's rules may raise, per pallet, with subtensor's indices. Listed
/// here (not discovered from `state`) so the drift test can hold each against Finney.
pub const ERRORS: &[(&str, &[(u8, &str)])] = &[
    ("Balances", &[(2, "InsufficientBalance")]),
    (
        "SubtensorModule",
        &[
            (1, "InvalidIpType"),
            (3, "InvalidPort"),
            (4, "HotKeyNotRegisteredInSubNet"),
            (5, "HotKeyAccountNotExists"),
            (6, "HotKeyNotRegisteredInNetwork"),
            (7, "NonAssociatedColdKey"),
            (12, "NotEnoughBalanceToStake"),
            (15, "NeuronNoValidatorPermit"),
            (16, "WeightVecNotEqualSize"),
            (17, "DuplicateUids"),
            (18, "UidVecContainInvalidOne"),
            (19, "WeightVecLengthIsLow"),
            (21, "HotKeyAlreadyRegisteredInSubNet"),
            (27, "MaxWeightExceeded"),
            (29, "SettingWeightsTooFast"),
            (30, "IncorrectWeightVersionKey"),
            (48, "NoNeuronIdAvailable"),
            (51, "NoWeightsCommitFound"),
            (52, "InvalidRevealCommitHashNotMatch"),
            (53, "CommitRevealEnabled"),
            (54, "CommitRevealDisabled"),
            (76, "SubnetNotExists"),
            (77, "TooManyUnrevealedCommits"),
            (78, "ExpiredWeightCommit"),
            (79, "RevealTooEarly"),
            (74, "MechanismDoesNotExist"),
            (81, "CommittingWeightsTooFast"),
            (110, "IncorrectCommitRevealVersion"),
        ],
    ),
    (
        "Commitments",
        &[
            (0, "TooManyFieldsInCommitmentInfo"),
            (1, "AccountNotAllowedCommit"),
            (2, "SpaceLimitExceeded"),
        ],
    ),
];

/// A type registry written as expressions over named types.
struct Types {
    builder: PortableRegistryBuilder,
    known: HashMap<String, u32>,
}

type Fields<'a> = &'a [(&'a str, &'a str)];

/// An enum's variants as `(index, name, fields)`.
type Variants<'a> = &'a [(u8, &'a str, Fields<'a>)];

/// A runtime API method as `(name, inputs, output)`.
type ApiMethod<'a> = (&'a str, Fields<'a>, &'a str);

impl Types {
    fn new() -> Types {
        Types {
            builder: PortableRegistryBuilder::new(),
            known: HashMap::new(),
        }
    }

    fn add(
        &mut self,
        path: &str,
        params: Vec<TypeParameter<PortableForm>>,
        def: TypeDef<PortableForm>,
    ) -> u32 {
        let segments = path.split("::").filter(|s| !s.is_empty()).map(str::to_owned);
        self.builder.register_type(Type {
            path: Path::from_segments_unchecked(segments),
            type_params: params,
            type_def: def,
            docs: Vec::new(),
        })
    }

    /// The id of a type expression: a primitive, `Compact<T>`, `Vec<T>`, `Option<T>`,
    /// `Result<T, E>`, `Cow<T>`, `BoundedVec<T>`, `[T; N]`, a tuple, or a name defined before.
    ///
    /// # Panics
    /// On an expression naming nothing known: the tables in [`build`] are constants, and the
    /// metadata unit test builds them.
    fn ty(&mut self, expr: &str) -> u32 {
        let expr = expr.trim();
        if let Some(&id) = self.known.get(expr) {
            return id;
        }
        let id = self.parse(expr);
        self.known.insert(expr.to_owned(), id);
        id
    }

    fn parse(&mut self, e: &str) -> u32 {
        let prim = |p| TypeDef::Primitive(p);
        let simple = match e {
            "bool" => Some(prim(TypeDefPrimitive::Bool)),
            "str" => Some(prim(TypeDefPrimitive::Str)),
            "u8" => Some(prim(TypeDefPrimitive::U8)),
            "u16" => Some(prim(TypeDefPrimitive::U16)),
            "u32" => Some(prim(TypeDefPrimitive::U32)),
            "u64" => Some(prim(TypeDefPrimitive::U64)),
            "u128" => Some(prim(TypeDefPrimitive::U128)),
            "i32" => Some(prim(TypeDefPrimitive::I32)),
            "i64" => Some(prim(TypeDefPrimitive::I64)),
            "i128" => Some(prim(TypeDefPrimitive::I128)),
            _ => None,
        };
        if let Some(def) = simple {
            return self.add("", vec![], def);
        }
        if let Some(inner) = generic(e, "Compact") {
            let t = self.ty(inner);
            return self.add(
                "",
                vec![],
                TypeDef::Compact(TypeDefCompact { type_param: t.into() }),
            );
        }
        if let Some(inner) = generic(e, "Vec") {
            let t = self.ty(inner);
            return self.add(
                "",
                vec![],
                TypeDef::Sequence(TypeDefSequence { type_param: t.into() }),
            );
        }
        if let Some(inner) = generic(e, "Option") {
            let t = self.ty(inner);
            return self.add(
                "Option",
                vec![param("T", Some(t))],
                TypeDef::Variant(TypeDefVariant {
                    variants: vec![
                        variant(0, "None", vec![]),
                        variant(1, "Some", vec![field(None, t)]),
                    ],
                }),
            );
        }
        if let Some(inner) = generic(e, "Result") {
            let parts = split_top(inner);
            let (ok, err) = (self.ty(parts[0]), self.ty(parts[1]));
            return self.add(
                "Result",
                vec![param("T", Some(ok)), param("E", Some(err))],
                TypeDef::Variant(TypeDefVariant {
                    variants: vec![
                        variant(0, "Ok", vec![field(None, ok)]),
                        variant(1, "Err", vec![field(None, err)]),
                    ],
                }),
            );
        }
        if let Some(inner) = generic(e, "Cow") {
            let t = self.ty(inner);
            return self.add("Cow", vec![param("T", Some(t))], composite(vec![field(None, t)]));
        }
        if let Some(inner) = generic(e, "BoundedVec") {
            let t = self.ty(inner);
            let v = self.ty(&format!("Vec<{inner}>"));
            return self.add(
                "bounded_collections::bounded_vec::BoundedVec",
                vec![param("T", Some(t)), param("S", None)],
                composite(vec![field(None, v)]),
            );
        }
        if let Some(inner) = e.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let (item, len) = inner.rsplit_once(';').expect("array as [T; N]");
            let t = self.ty(item);
            let len: u32 = len.trim().parse().expect("array length");
            return self.add(
                "",
                vec![],
                TypeDef::Array(TypeDefArray {
                    len,
                    type_param: t.into(),
                }),
            );
        }
        if let Some(inner) = e.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
            let parts: Vec<u32> = split_top(inner).into_iter().map(|p| self.ty(p)).collect();
            return self.add(
                "",
                vec![],
                TypeDef::Tuple(TypeDefTuple {
                    fields: parts.into_iter().map(Into::into).collect(),
                }),
            );
        }
        panic!("devnet metadata: unknown type expression `{e}`")
    }

    /// A struct under `name`; fields named `""` are unnamed (tuple structs).
    fn strukt(&mut self, name: &str, path: &str, params: &[(&str, Option<&str>)], fields: Fields<'_>) -> u32 {
        let params = self.params(params);
        let fields = self.fields(fields);
        let id = self.add(path, params, composite(fields));
        self.known.insert(name.to_owned(), id);
        id
    }

    /// An enum under `name`: `(index, variant, fields)`.
    fn enumeration(
        &mut self,
        name: &str,
        path: &str,
        params: &[(&str, Option<&str>)],
        variants: &[(u8, &str, Fields<'_>)],
    ) -> u32 {
        let params = self.params(params);
        let variants = variants
            .iter()
            .map(|(i, n, f)| variant(*i, n, self.fields(f)))
            .collect();
        let id = self.add(path, params, TypeDef::Variant(TypeDefVariant { variants }));
        self.known.insert(name.to_owned(), id);
        id
    }

    /// A field-less enum with variants indexed from zero.
    fn unit_enum(&mut self, name: &str, path: &str, names: &[&str]) -> u32 {
        let variants: Vec<(u8, &str, Fields<'_>)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (u8::try_from(i).expect("fewer than 256 variants"), *n, &[][..]))
            .collect();
        self.enumeration(name, path, &[], &variants)
    }

    fn params(&mut self, params: &[(&str, Option<&str>)]) -> Vec<TypeParameter<PortableForm>> {
        params
            .iter()
            .map(|(n, t)| {
                let id = t.map(|t| self.ty(t));
                param(n, id)
            })
            .collect()
    }

    fn fields(&mut self, fields: Fields<'_>) -> Vec<Field<PortableForm>> {
        fields
            .iter()
            .map(|(n, t)| {
                let id = self.ty(t);
                field((!n.is_empty()).then_some(n), id)
            })
            .collect()
    }

    fn finish(self) -> PortableRegistry {
        self.builder.finish()
    }
}

fn generic<'a>(e: &'a str, name: &str) -> Option<&'a str> {
    e.strip_prefix(name)?.strip_prefix('<')?.strip_suffix('>')
}

/// Split at commas outside brackets.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

fn param(name: &str, ty: Option<u32>) -> TypeParameter<PortableForm> {
    TypeParameter {
        name: name.to_owned(),
        ty: ty.map(Into::into),
    }
}

fn field(name: Option<&str>, ty: u32) -> Field<PortableForm> {
    Field {
        name: name.map(str::to_owned),
        ty: ty.into(),
        type_name: None,
        docs: Vec::new(),
    }
}

fn variant(index: u8, name: &str, fields: Vec<Field<PortableForm>>) -> Variant<PortableForm> {
    Variant {
        name: name.to_owned(),
        fields,
        index,
        docs: Vec::new(),
    }
}

fn composite(fields: Vec<Field<PortableForm>>) -> TypeDef<PortableForm> {
    TypeDef::Composite(TypeDefComposite { fields })
}

/// One storage item: name, optional-or-default, hashers with the key type, value type.
struct Item<'a> {
    name: &'a str,
    optional: bool,
    map: Option<(&'a [StorageHasher], &'a str)>,
    value: &'a str,
}

const fn plain<'a>(name: &'a str, value: &'a str) -> Item<'a> {
    Item {
        name,
        optional: false,
        map: None,
        value,
    }
}

const fn map<'a>(name: &'a str, hashers: &'a [StorageHasher], key: &'a str, value: &'a str) -> Item<'a> {
    Item {
        name,
        optional: false,
        map: Some((hashers, key)),
        value,
    }
}

const fn optional(item: Item<'_>) -> Item<'_> {
    Item {
        optional: true,
        ..item
    }
}

/// A pallet as the tables describe it, before its types are registered.
struct PalletSpec<'a> {
    name: &'a str,
    index: u8,
    storage: &'a [Item<'a>],
    calls: Option<(&'a str, Variants<'a>)>,
    events: Option<(&'a str, Variants<'a>)>,
    errors: Option<&'a str>,
    constants: &'a [(&'a str, &'a str, &'a [u8])],
}

struct RegisteredPallet {
    name: String,
    index: u8,
    storage: Option<PalletStorageMetadata<PortableForm>>,
    calls: Option<u32>,
    event: Option<u32>,
    error: Option<u32>,
    constants: Vec<PalletConstantMetadata<PortableForm>>,
}

use StorageHasher::{Blake2_128Concat as B128, Identity as Id, Twox64Concat as X64};

/// Build the metadata for the default block time. Pure and deterministic: the same bytes on
/// every call.
pub fn build() -> Built {
    build_for(DEFAULT_SLOT_MS)
}

/// Build the metadata for a chain whose slot is `slot_ms` milliseconds.
pub fn build_for(slot_ms: u64) -> Built {
    let slot_duration = slot_ms.to_le_bytes();
    let mut t = Types::new();

    // Primitive shapes subtensor names.
    t.strukt(
        "AccountId32",
        "sp_core::crypto::AccountId32",
        &[],
        &[("", "[u8; 32]")],
    );
    t.strukt("H256", "primitive_types::H256", &[], &[("", "[u8; 32]")]);
    t.strukt(
        "ExtraFlags",
        "pallet_balances::types::ExtraFlags",
        &[],
        &[("", "u128")],
    );
    t.strukt(
        "AccountData",
        "pallet_balances::types::AccountData",
        &[("Balance", Some("u64"))],
        &[
            ("free", "u64"),
            ("reserved", "u64"),
            ("frozen", "u64"),
            ("flags", "ExtraFlags"),
        ],
    );
    t.strukt(
        "AccountInfo",
        "frame_system::AccountInfo",
        &[("Nonce", Some("u32")), ("AccountData", Some("AccountData"))],
        &[
            ("nonce", "u32"),
            ("consumers", "u32"),
            ("providers", "u32"),
            ("sufficients", "u32"),
            ("data", "AccountData"),
        ],
    );
    t.strukt(
        "Weight",
        "sp_weights::weight_v2::Weight",
        &[],
        &[("ref_time", "Compact<u64>"), ("proof_size", "Compact<u64>")],
    );
    t.unit_enum(
        "DispatchClass",
        "frame_support::dispatch::DispatchClass",
        &["Normal", "Operational", "Mandatory"],
    );
    t.unit_enum("Pays", "frame_support::dispatch::Pays", &["Yes", "No"]);
    t.strukt(
        "DispatchEventInfo",
        "frame_system::DispatchEventInfo",
        &[],
        &[
            ("weight", "Weight"),
            ("class", "DispatchClass"),
            ("pays_fee", "Pays"),
        ],
    );
    t.strukt(
        "ModuleError",
        "sp_runtime::ModuleError",
        &[],
        &[("index", "u8"), ("error", "[u8; 4]")],
    );
    t.unit_enum(
        "TokenError",
        "sp_runtime::TokenError",
        &[
            "FundsUnavailable",
            "OnlyProvider",
            "BelowMinimum",
            "CannotCreate",
            "UnknownAsset",
            "Frozen",
            "Unsupported",
            "CannotCreateHold",
            "NotExpendable",
            "Blocked",
        ],
    );
    t.unit_enum(
        "ArithmeticError",
        "sp_arithmetic::ArithmeticError",
        &["Underflow", "Overflow", "DivisionByZero"],
    );
    t.unit_enum(
        "TransactionalError",
        "sp_runtime::TransactionalError",
        &["LimitReached", "NoLayer"],
    );
    t.unit_enum(
        "TrieError",
        "sp_runtime::proving_trie::TrieError",
        &[
            "InvalidStateRoot",
            "IncompleteDatabase",
            "ValueAtIncompleteKey",
            "DecoderError",
            "InvalidHash",
            "DuplicateKey",
            "ExtraneousNode",
            "ExtraneousValue",
            "ExtraneousHashReference",
            "InvalidChildReference",
            "ValueMismatch",
            "IncompleteProof",
            "RootMismatch",
            "DecodeError",
        ],
    );
    t.enumeration(
        "DispatchError",
        "sp_runtime::DispatchError",
        &[],
        &[
            (0, "Other", &[]),
            (1, "CannotLookup", &[]),
            (2, "BadOrigin", &[]),
            (3, "Module", &[("", "ModuleError")]),
            (4, "ConsumerRemaining", &[]),
            (5, "NoProviders", &[]),
            (6, "TooManyConsumers", &[]),
            (7, "Token", &[("", "TokenError")]),
            (8, "Arithmetic", &[("", "ArithmeticError")]),
            (9, "Transactional", &[("", "TransactionalError")]),
            (10, "Exhausted", &[]),
            (11, "Corruption", &[]),
            (12, "Unavailable", &[]),
            (13, "RootNotAllowed", &[]),
            (14, "Trie", &[("", "TrieError")]),
        ],
    );
    t.enumeration(
        "Phase",
        "frame_system::Phase",
        &[],
        &[
            (0, "ApplyExtrinsic", &[("", "u32")]),
            (1, "Finalization", &[]),
            (2, "Initialization", &[]),
        ],
    );
    t.enumeration(
        "MultiAddress",
        "sp_runtime::multiaddress::MultiAddress",
        &[("AccountId", Some("AccountId32")), ("AccountIndex", Some("()"))],
        &[
            (0, "Id", &[("", "AccountId32")]),
            (1, "Index", &[("", "Compact<()>")]),
            (2, "Raw", &[("", "Vec<u8>")]),
            (3, "Address32", &[("", "[u8; 32]")]),
            (4, "Address20", &[("", "[u8; 20]")]),
        ],
    );
    t.enumeration(
        "MultiSignature",
        "sp_runtime::MultiSignature",
        &[],
        &[
            (0, "Ed25519", &[("", "[u8; 64]")]),
            (1, "Sr25519", &[("", "[u8; 64]")]),
            (2, "Ecdsa", &[("", "[u8; 65]")]),
        ],
    );
    {
        // `Era`: Immortal, then MortalN carrying the second byte, N = 1..=255.
        let names: Vec<String> = (1..=255).map(|n| format!("Mortal{n}")).collect();
        let u8_field: Fields<'_> = &[("", "u8")];
        let mut variants: Vec<(u8, &str, Fields<'_>)> = vec![(0, "Immortal", &[])];
        for (i, name) in names.iter().enumerate() {
            variants.push((u8::try_from(i + 1).expect("≤ 255"), name, u8_field));
        }
        t.enumeration("Era", "sp_runtime::generic::era::Era", &[], &variants);
    }
    t.unit_enum(
        "MetadataHashMode",
        "frame_metadata_hash_extension::Mode",
        &["Disabled", "Enabled"],
    );

    // subtensor's own structures.
    t.strukt(
        "AxonInfo",
        "pallet_subtensor::pallet::AxonInfo",
        &[],
        &[
            ("block", "u64"),
            ("version", "u32"),
            ("ip", "u128"),
            ("port", "u16"),
            ("ip_type", "u8"),
            ("protocol", "u8"),
            ("placeholder1", "u8"),
            ("placeholder2", "u8"),
        ],
    );
    t.strukt(
        "PrometheusInfo",
        "pallet_subtensor::pallet::PrometheusInfo",
        &[],
        &[
            ("block", "u64"),
            ("version", "u32"),
            ("ip", "u128"),
            ("port", "u16"),
            ("ip_type", "u8"),
        ],
    );
    t.strukt(
        "ChainIdentityV2",
        "pallet_subtensor::pallet::ChainIdentityV2",
        &[],
        &[
            ("name", "Vec<u8>"),
            ("url", "Vec<u8>"),
            ("github_repo", "Vec<u8>"),
            ("image", "Vec<u8>"),
            ("discord", "Vec<u8>"),
            ("description", "Vec<u8>"),
            ("additional", "Vec<u8>"),
        ],
    );
    t.strukt(
        "SubnetIdentityV3",
        "pallet_subtensor::pallet::SubnetIdentityV3",
        &[],
        &[
            ("subnet_name", "Vec<u8>"),
            ("github_repo", "Vec<u8>"),
            ("subnet_contact", "Vec<u8>"),
            ("subnet_url", "Vec<u8>"),
            ("discord", "Vec<u8>"),
            ("description", "Vec<u8>"),
            ("logo_url", "Vec<u8>"),
            ("additional", "Vec<u8>"),
        ],
    );
    t.strukt(
        "FixedI128",
        "substrate_fixed::FixedI128",
        &[("Frac", None)],
        &[("bits", "i128")],
    );
    {
        // Commitments' `Data`: None, Raw0..Raw128 (index = length + 1), hashes, timelock, flags.
        let names: Vec<(String, String)> = (0..=128)
            .map(|n| (format!("Raw{n}"), format!("[u8; {n}]")))
            .collect();
        let raw_fields: Vec<[(&str, &str); 1]> = names.iter().map(|(_, ty)| [("", ty.as_str())]).collect();
        let mut variants: Vec<(u8, &str, Fields<'_>)> = vec![(0, "None", &[])];
        for (i, ((name, _), fields)) in names.iter().zip(&raw_fields).enumerate() {
            variants.push((u8::try_from(i + 1).expect("≤ 129"), name, fields));
        }
        variants.extend([
            (130, "BlakeTwo256", &[("", "[u8; 32]")][..]),
            (131, "Sha256", &[("", "[u8; 32]")]),
            (132, "Keccak256", &[("", "[u8; 32]")]),
            (133, "ShaThree256", &[("", "[u8; 32]")]),
            (
                134,
                "TimelockEncrypted",
                &[("encrypted", "BoundedVec<u8>"), ("reveal_round", "u64")],
            ),
            (135, "ResetBondsFlag", &[]),
            (136, "BigRaw", &[("", "BoundedVec<u8>")]),
        ]);
        t.enumeration("Data", "pallet_commitments::types::Data", &[], &variants);
    }
    t.strukt(
        "CommitmentInfo",
        "pallet_commitments::types::CommitmentInfo",
        &[("FieldLimit", None)],
        &[("fields", "BoundedVec<Data>")],
    );
    t.strukt(
        "Registration",
        "pallet_commitments::types::Registration",
        &[
            ("Balance", Some("u64")),
            ("MaxFields", None),
            ("BlockNumber", Some("u32")),
        ],
        &[("deposit", "u64"), ("block", "u32"), ("info", "CommitmentInfo")],
    );

    // The Drand pallet's beacon description and pulses.
    t.strukt(
        "DrandMetadata",
        "pallet_drand::types::Metadata",
        &[],
        &[("beacon_id", "BoundedVec<u8>")],
    );
    t.strukt(
        "BeaconConfiguration",
        "pallet_drand::types::BeaconConfiguration",
        &[],
        &[
            ("public_key", "BoundedVec<u8>"),
            ("period", "u32"),
            ("genesis_time", "u32"),
            ("hash", "BoundedVec<u8>"),
            ("group_hash", "BoundedVec<u8>"),
            ("scheme_id", "BoundedVec<u8>"),
            ("metadata", "DrandMetadata"),
        ],
    );
    t.strukt(
        "Pulse",
        "pallet_drand::types::Pulse",
        &[],
        &[
            ("round", "u64"),
            ("randomness", "BoundedVec<u8>"),
            ("signature", "BoundedVec<u8>"),
        ],
    );

    // Runtime-API return types.
    t.strukt(
        "RuntimeVersion",
        "sp_version::RuntimeVersion",
        &[],
        &[
            ("spec_name", "Cow<str>"),
            ("impl_name", "Cow<str>"),
            ("authoring_version", "u32"),
            ("spec_version", "u32"),
            ("impl_version", "u32"),
            ("apis", "Cow<Vec<([u8; 8], u32)>>"),
            ("transaction_version", "u32"),
            ("system_version", "u8"),
        ],
    );
    t.strukt(
        "OpaqueMetadata",
        "sp_core::OpaqueMetadata",
        &[],
        &[("", "Vec<u8>")],
    );
    t.strukt(
        "NeuronInfoLite",
        "pallet_subtensor::rpc_info::neuron_info::NeuronInfoLite",
        &[("AccountId", Some("AccountId32"))],
        &[
            ("hotkey", "AccountId32"),
            ("coldkey", "AccountId32"),
            ("uid", "Compact<u16>"),
            ("netuid", "Compact<u16>"),
            ("active", "bool"),
            ("axon_info", "AxonInfo"),
            ("prometheus_info", "PrometheusInfo"),
            ("stake", "Vec<(AccountId32, Compact<u64>)>"),
            ("rank", "Compact<u16>"),
            ("emission", "Compact<u64>"),
            ("incentive", "Compact<u16>"),
            ("consensus", "Compact<u16>"),
            ("trust", "Compact<u16>"),
            ("validator_trust", "Compact<u16>"),
            ("dividends", "Compact<u16>"),
            ("last_update", "Compact<u64>"),
            ("validator_permit", "bool"),
            ("pruning_score", "Compact<u16>"),
        ],
    );
    t.strukt(
        "FixedI64",
        "substrate_fixed::FixedI64",
        &[("Frac", None)],
        &[("bits", "i64")],
    );
    t.strukt(
        "FixedU128",
        "substrate_fixed::FixedU128",
        &[("Frac", None)],
        &[("bits", "u128")],
    );
    t.enumeration(
        "HyperparamValue",
        "pallet_subtensor::rpc_info::subnet_info::HyperparamValue",
        &[],
        &[
            (0, "Bool", &[("", "bool")]),
            (1, "U16", &[("", "Compact<u16>")]),
            (2, "U32", &[("", "Compact<u32>")]),
            (3, "U64", &[("", "Compact<u64>")]),
            (4, "U128", &[("", "Compact<u128>")]),
            (5, "TaoBalance", &[("", "Compact<u64>")]),
            (6, "I32F32", &[("", "FixedI64")]),
            (7, "U64F64", &[("", "FixedU128")]),
        ],
    );
    t.strukt(
        "HyperparamEntry",
        "pallet_subtensor::rpc_info::subnet_info::HyperparamEntry",
        &[],
        &[("name", "Vec<u8>"), ("value", "HyperparamValue")],
    );
    {
        // `Metagraph` is `SelectiveMetagraph` with every field present, less the last two.
        let unwrapped: Vec<(&str, &str)> = SELECTIVE_METAGRAPH
            .iter()
            .filter(|(name, _)| !matches!(*name, "validators" | "commitments"))
            .map(|(name, ty)| (*name, generic(ty, "Option").unwrap_or(ty)))
            .collect();
        t.strukt(
            "Metagraph",
            "pallet_subtensor::rpc_info::metagraph::Metagraph",
            &[("AccountId", Some("AccountId32"))],
            &unwrapped,
        );
    }
    t.strukt(
        "SelectiveMetagraph",
        "pallet_subtensor::rpc_info::metagraph::SelectiveMetagraph",
        &[("AccountId", Some("AccountId32"))],
        SELECTIVE_METAGRAPH,
    );

    let pallets = [
        PalletSpec {
            name: "System",
            index: 0,
            storage: &[
                map("Account", &[B128], "AccountId32", "AccountInfo"),
                map("BlockHash", &[X64], "u32", "H256"),
                plain("Number", "u32"),
                plain("Events", "Vec<EventRecord>"),
            ],
            calls: None,
            events: Some((
                "frame_system::pallet::Event",
                &[
                    (0, "ExtrinsicSuccess", &[("dispatch_info", "DispatchEventInfo")]),
                    (
                        1,
                        "ExtrinsicFailed",
                        &[
                            ("dispatch_error", "DispatchError"),
                            ("dispatch_info", "DispatchEventInfo"),
                        ],
                    ),
                ],
            )),
            errors: None,
            constants: &[("SS58Prefix", "u16", &[42, 0])],
        },
        PalletSpec {
            name: "Aura",
            index: 3,
            storage: &[],
            calls: None,
            events: None,
            errors: None,
            constants: &[("SlotDuration", "u64", &slot_duration)],
        },
        PalletSpec {
            name: "Balances",
            index: 5,
            storage: &[],
            calls: Some((
                "pallet_balances::pallet::Call",
                &[
                    (
                        0,
                        "transfer_allow_death",
                        &[("dest", "MultiAddress"), ("value", "Compact<u64>")],
                    ),
                    (
                        3,
                        "transfer_keep_alive",
                        &[("dest", "MultiAddress"), ("value", "Compact<u64>")],
                    ),
                ],
            )),
            events: None,
            errors: Some("pallet_balances::pallet::Error"),
            constants: &[("ExistentialDeposit", "u64", &[0xf4, 0x01, 0, 0, 0, 0, 0, 0])],
        },
        PalletSpec {
            name: "SubtensorModule",
            index: 7,
            storage: &[
                map("Owner", &[B128], "AccountId32", "AccountId32"),
                map("TotalHotkeyAlpha", &[B128, Id], "(AccountId32, u16)", "u64"),
                map("Tempo", &[Id], "u16", "u16"),
                map("SubnetworkN", &[Id], "u16", "u16"),
                map("NetworksAdded", &[Id], "u16", "bool"),
                map("SubnetOwner", &[Id], "u16", "AccountId32"),
                map("MaxAllowedUids", &[Id], "u16", "u16"),
                map("ImmunityPeriod", &[Id], "u16", "u16"),
                map("MaxWeightsLimit", &[Id], "u16", "u16"),
                map("WeightsVersionKey", &[Id], "u16", "u64"),
                map("MinAllowedWeights", &[Id], "u16", "u16"),
                map("MaxAllowedValidators", &[Id], "u16", "u16"),
                map("WeightsSetRateLimit", &[Id], "u16", "u64"),
                map("CommitRevealWeightsEnabled", &[Id], "u16", "bool"),
                map("Burn", &[Id], "u16", "u64"),
                optional(map("Uids", &[Id, B128], "(u16, AccountId32)", "u16")),
                map("Keys", &[Id, Id], "(u16, u16)", "AccountId32"),
                map("Active", &[Id], "u16", "Vec<bool>"),
                map("Incentive", &[Id], "u16", "Vec<u16>"),
                map("Dividends", &[Id], "u16", "Vec<u16>"),
                map("Emission", &[Id], "u16", "Vec<u64>"),
                map("LastUpdate", &[Id], "u16", "Vec<u64>"),
                map("ValidatorPermit", &[Id], "u16", "Vec<bool>"),
                map("Weights", &[Id, Id], "(u16, u16)", "Vec<(u16, u16)>"),
                map("BlockAtRegistration", &[Id, Id], "(u16, u16)", "u64"),
                optional(map("Axons", &[Id, B128], "(u16, AccountId32)", "AxonInfo")),
                optional(map(
                    "WeightCommits",
                    &[X64, X64],
                    "(u16, AccountId32)",
                    "Vec<(H256, u64, u64, u64)>",
                )),
                map("RevealPeriodEpochs", &[X64], "u16", "u64"),
                map(
                    "TimelockedWeightCommits",
                    &[X64, X64],
                    "(u16, u64)",
                    "Vec<(AccountId32, u64, BoundedVec<u8>, u64)>",
                ),
                plain("CommitRevealWeightsVersion", "u16"),
                map("LastEpochBlock", &[Id], "u16", "u64"),
                map("PendingEpochAt", &[Id], "u16", "u64"),
                map("SubnetEpochIndex", &[Id], "u16", "u64"),
                map("BlocksSinceLastStep", &[Id], "u16", "u64"),
                map("MechanismCountCurrent", &[X64], "u16", "u8"),
                map("TokenSymbol", &[Id], "u16", "Vec<u8>"),
            ],
            calls: Some((
                "pallet_subtensor::pallet::Call",
                &[
                    (
                        0,
                        "set_weights",
                        &[
                            ("netuid", "u16"),
                            ("dests", "Vec<u16>"),
                            ("weights", "Vec<u16>"),
                            ("version_key", "u64"),
                        ],
                    ),
                    (
                        2,
                        "add_stake",
                        &[
                            ("hotkey", "AccountId32"),
                            ("netuid", "u16"),
                            ("amount_staked", "u64"),
                        ],
                    ),
                    (
                        4,
                        "serve_axon",
                        &[
                            ("netuid", "u16"),
                            ("version", "u32"),
                            ("ip", "u128"),
                            ("port", "u16"),
                            ("ip_type", "u8"),
                            ("protocol", "u8"),
                            ("placeholder1", "u8"),
                            ("placeholder2", "u8"),
                        ],
                    ),
                    (
                        7,
                        "burned_register",
                        &[("netuid", "u16"), ("hotkey", "AccountId32")],
                    ),
                    (
                        96,
                        "commit_weights",
                        &[("netuid", "u16"), ("commit_hash", "H256")],
                    ),
                    (
                        97,
                        "reveal_weights",
                        &[
                            ("netuid", "u16"),
                            ("uids", "Vec<u16>"),
                            ("values", "Vec<u16>"),
                            ("salt", "Vec<u16>"),
                            ("version_key", "u64"),
                        ],
                    ),
                    (
                        113,
                        "commit_timelocked_weights",
                        &[
                            ("netuid", "u16"),
                            ("commit", "BoundedVec<u8>"),
                            ("reveal_round", "u64"),
                            ("commit_reveal_version", "u16"),
                        ],
                    ),
                    (
                        118,
                        "commit_timelocked_mechanism_weights",
                        &[
                            ("netuid", "u16"),
                            ("mecid", "u8"),
                            ("commit", "BoundedVec<u8>"),
                            ("reveal_round", "u64"),
                            ("commit_reveal_version", "u16"),
                        ],
                    ),
                ],
            )),
            events: None,
            errors: Some("pallet_subtensor::pallet::Error"),
            constants: &[],
        },
        PalletSpec {
            name: "Sudo",
            index: 12,
            storage: &[optional(plain("Key", "AccountId32"))],
            calls: None,
            events: None,
            errors: None,
            constants: &[],
        },
        PalletSpec {
            name: "Commitments",
            index: 18,
            storage: &[
                optional(map(
                    "CommitmentOf",
                    &[Id, X64],
                    "(u16, AccountId32)",
                    "Registration",
                )),
                optional(map(
                    "RevealedCommitments",
                    &[Id, X64],
                    "(u16, AccountId32)",
                    "Vec<(Vec<u8>, u64)>",
                )),
            ],
            calls: Some((
                "pallet_commitments::pallet::Call",
                &[(
                    0,
                    "set_commitment",
                    &[("netuid", "u16"), ("info", "CommitmentInfo")],
                )],
            )),
            events: Some((
                "pallet_commitments::pallet::Event",
                &[(0, "Commitment", &[("netuid", "u16"), ("who", "AccountId32")])],
            )),
            errors: Some("pallet_commitments::pallet::Error"),
            constants: &[],
        },
        PalletSpec {
            name: "AdminUtils",
            index: 19,
            storage: &[],
            calls: Some((
                "pallet_admin_utils::pallet::Call",
                &[
                    (
                        6,
                        "sudo_set_weights_version_key",
                        &[("netuid", "u16"), ("weights_version_key", "u64")],
                    ),
                    (
                        7,
                        "sudo_set_weights_set_rate_limit",
                        &[("netuid", "u16"), ("weights_set_rate_limit", "u64")],
                    ),
                    (
                        13,
                        "sudo_set_immunity_period",
                        &[("netuid", "u16"), ("immunity_period", "u16")],
                    ),
                    (
                        14,
                        "sudo_set_min_allowed_weights",
                        &[("netuid", "u16"), ("min_allowed_weights", "u16")],
                    ),
                    (
                        15,
                        "sudo_set_max_allowed_uids",
                        &[("netuid", "u16"), ("max_allowed_uids", "u16")],
                    ),
                    (30, "sudo_set_tempo", &[("netuid", "u16"), ("tempo", "u16")]),
                    (
                        49,
                        "sudo_set_commit_reveal_weights_enabled",
                        &[("netuid", "u16"), ("enabled", "bool")],
                    ),
                ],
            )),
            events: None,
            errors: None,
            constants: &[],
        },
        PalletSpec {
            name: "Drand",
            index: 26,
            storage: &[
                plain("BeaconConfig", "BeaconConfiguration"),
                optional(map("Pulses", &[B128], "u64", "Pulse")),
                plain("LastStoredRound", "u64"),
                plain("OldestStoredRound", "u64"),
            ],
            calls: None,
            events: None,
            errors: None,
            constants: &[],
        },
    ];

    // Pallet calls, events and errors first: the outer enums wrap them, and `System.Events`
    // refers to the outer event enum.
    let mut call_ids = Vec::new();
    let mut event_ids = Vec::new();
    let mut error_ids = Vec::new();
    for p in &pallets {
        if let Some((path, calls)) = p.calls {
            call_ids.push((
                p.name,
                p.index,
                t.enumeration(&format!("{}Call", p.name), path, &[("T", None)], calls),
            ));
        }
        if let Some((path, events)) = p.events {
            event_ids.push((
                p.name,
                p.index,
                t.enumeration(&format!("{}Event", p.name), path, &[("T", None)], events),
            ));
        }
        if let Some(path) = p.errors {
            let listed = ERRORS
                .iter()
                .find(|(pallet, _)| *pallet == p.name)
                .map(|(_, e)| *e)
                .unwrap_or(&[]);
            let variants: Vec<(u8, &str, Fields<'_>)> =
                listed.iter().map(|(i, n)| (*i, *n, &[][..])).collect();
            error_ids.push((
                p.name,
                p.index,
                t.enumeration(&format!("{}Error", p.name), path, &[("T", None)], &variants),
            ));
        }
    }
    let outer = |t: &mut Types, name: &str, path: &str, members: &[(&str, u8, u32)]| {
        let variants = members
            .iter()
            .map(|(pallet, index, id)| variant(*index, pallet, vec![field(None, *id)]))
            .collect();
        let id = t.add(path, vec![], TypeDef::Variant(TypeDefVariant { variants }));
        t.known.insert(name.to_owned(), id);
        id
    };
    let call_ty = outer(
        &mut t,
        "RuntimeCall",
        "node_subtensor_runtime::RuntimeCall",
        &call_ids,
    );
    let event_ty = outer(
        &mut t,
        "RuntimeEvent",
        "node_subtensor_runtime::RuntimeEvent",
        &event_ids,
    );
    let error_ty = outer(
        &mut t,
        "RuntimeError",
        "node_subtensor_runtime::RuntimeError",
        &error_ids,
    );
    t.strukt(
        "EventRecord",
        "frame_system::EventRecord",
        &[("E", Some("RuntimeEvent")), ("T", Some("H256"))],
        &[
            ("phase", "Phase"),
            ("event", "RuntimeEvent"),
            ("topics", "Vec<H256>"),
        ],
    );

    // Transaction extensions, in subtensor's order: (identifier, path, explicit, implicit).
    let extensions: [(&str, &str, Fields<'_>, &str); 13] = [
        (
            "CheckNonZeroSender",
            "frame_system::extensions::check_non_zero_sender::CheckNonZeroSender",
            &[],
            "()",
        ),
        (
            "CheckSpecVersion",
            "frame_system::extensions::check_spec_version::CheckSpecVersion",
            &[],
            "u32",
        ),
        (
            "CheckTxVersion",
            "frame_system::extensions::check_tx_version::CheckTxVersion",
            &[],
            "u32",
        ),
        (
            "CheckGenesis",
            "frame_system::extensions::check_genesis::CheckGenesis",
            &[],
            "H256",
        ),
        (
            "CheckMortality",
            "node_subtensor_runtime::check_mortality::CheckMortality",
            &[("", "Era")],
            "H256",
        ),
        (
            "CheckNonce",
            "node_subtensor_runtime::check_nonce::CheckNonce",
            &[("", "Compact<u32>")],
            "()",
        ),
        (
            "CheckWeight",
            "frame_system::extensions::check_weight::CheckWeight",
            &[],
            "()",
        ),
        (
            "ChargeTransactionPayment",
            "pallet_transaction_payment::ChargeTransactionPayment",
            &[("", "Compact<u64>")],
            "()",
        ),
        (
            "SudoTransactionExtension",
            "node_subtensor_runtime::sudo_wrapper::SudoTransactionExtension",
            &[],
            "()",
        ),
        (
            "CheckShieldedTxValidity",
            "pallet_shield::extension::CheckShieldedTxValidity",
            &[],
            "()",
        ),
        (
            "SubtensorTransactionExtension",
            "pallet_subtensor::extensions::subtensor::SubtensorTransactionExtension",
            &[],
            "()",
        ),
        (
            "DrandPriority",
            "pallet_drand::drand_priority::DrandPriority",
            &[],
            "()",
        ),
        (
            "CheckMetadataHash",
            "frame_metadata_hash_extension::CheckMetadataHash",
            &[("mode", "MetadataHashMode")],
            "Option<[u8; 32]>",
        ),
    ];
    let mut signed_extensions = Vec::new();
    let mut extension_tys = Vec::new();
    for (identifier, path, explicit, implicit) in extensions {
        let ty = t.strukt(identifier, path, &[("T", None)], explicit);
        let additional = t.ty(implicit);
        extension_tys.push(ty);
        signed_extensions.push(SignedExtensionMetadata::<PortableForm> {
            identifier: identifier.to_owned(),
            ty: ty.into(),
            additional_signed: additional.into(),
        });
    }
    let extra_ty = t.add(
        "",
        vec![],
        TypeDef::Tuple(TypeDefTuple {
            fields: extension_tys.iter().map(|&id| id.into()).collect(),
        }),
    );
    let address_ty = t.ty("MultiAddress");
    let signature_ty = t.ty("MultiSignature");
    let bytes_ty = t.ty("Vec<u8>");
    let extrinsic_ty = t.add(
        "sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic",
        vec![
            param("Address", Some(address_ty)),
            param("Call", Some(call_ty)),
            param("Signature", Some(signature_ty)),
            param("Extra", Some(extra_ty)),
        ],
        composite(vec![field(None, bytes_ty)]),
    );
    let runtime_ty = t.add("node_subtensor_runtime::Runtime", vec![], composite(vec![]));

    // Runtime APIs: (trait, [(method, [(input, type)], output)]).
    let apis: [(&str, &[ApiMethod<'_>]); 5] = [
        ("Core", &[("version", &[], "RuntimeVersion")]),
        (
            "Metadata",
            &[
                ("metadata", &[], "OpaqueMetadata"),
                (
                    "metadata_at_version",
                    &[("version", "u32")],
                    "Option<OpaqueMetadata>",
                ),
                ("metadata_versions", &[], "Vec<u32>"),
            ],
        ),
        (
            "AccountNonceApi",
            &[("account_nonce", &[("account", "AccountId32")], "u32")],
        ),
        (
            "NeuronInfoRuntimeApi",
            &[("get_neurons_lite", &[("netuid", "u16")], "Vec<NeuronInfoLite>")],
        ),
        (
            "SubnetInfoRuntimeApi",
            &[
                ("get_metagraph", &[("netuid", "u16")], "Option<Metagraph>"),
                (
                    "get_selective_metagraph",
                    &[("netuid", "u16"), ("metagraph_indexes", "Vec<u16>")],
                    "Option<SelectiveMetagraph>",
                ),
                (
                    "get_subnet_hyperparams_v3",
                    &[("netuid", "u16")],
                    "Option<Vec<HyperparamEntry>>",
                ),
            ],
        ),
    ];
    let apis: Vec<RuntimeApiMetadata<PortableForm>> = apis
        .iter()
        .map(|(name, methods)| RuntimeApiMetadata {
            name: (*name).to_owned(),
            methods: methods
                .iter()
                .map(|(method, inputs, output)| RuntimeApiMethodMetadata {
                    name: (*method).to_owned(),
                    inputs: inputs
                        .iter()
                        .map(|(n, ty)| RuntimeApiMethodParamMetadata {
                            name: (*n).to_owned(),
                            ty: t.ty(ty).into(),
                        })
                        .collect(),
                    output: t.ty(output).into(),
                    docs: Vec::new(),
                })
                .collect(),
            docs: Vec::new(),
        })
        .collect();

    // Storage and constants last: their types are all known now.
    let mut registered = Vec::new();
    for p in &pallets {
        let entries: Vec<StorageEntryMetadata<PortableForm>> = p
            .storage
            .iter()
            .map(|item| {
                let value = t.ty(item.value);
                let ty = match item.map {
                    None => StorageEntryType::Plain(value.into()),
                    Some((hashers, key)) => StorageEntryType::Map {
                        hashers: hashers.to_vec(),
                        key: t.ty(key).into(),
                        value: value.into(),
                    },
                };
                StorageEntryMetadata {
                    name: item.name.to_owned(),
                    modifier: if item.optional {
                        StorageEntryModifier::Optional
                    } else {
                        StorageEntryModifier::Default
                    },
                    ty,
                    default: Vec::new(),
                    docs: Vec::new(),
                }
            })
            .collect();
        let constants = p
            .constants
            .iter()
            .map(|(name, ty, value)| PalletConstantMetadata {
                name: (*name).to_owned(),
                ty: t.ty(ty).into(),
                value: value.to_vec(),
                docs: Vec::new(),
            })
            .collect();
        let find =
            |list: &[(&str, u8, u32)]| list.iter().find(|(n, _, _)| *n == p.name).map(|(_, _, id)| *id);
        registered.push(RegisteredPallet {
            name: p.name.to_owned(),
            index: p.index,
            storage: (!entries.is_empty()).then(|| PalletStorageMetadata {
                prefix: p.name.to_owned(),
                entries,
            }),
            calls: find(&call_ids),
            event: find(&event_ids),
            error: find(&error_ids),
            constants,
        });
    }

    let types = t.finish();
    // Defaults of `ValueQuery` items: the value type's zero, as the node would answer for an
    // absent key. Optional items default to `None` (an empty answer), encoded as 0x00.
    for p in &mut registered {
        if let Some(storage) = &mut p.storage {
            for entry in &mut storage.entries {
                entry.default = match (&entry.modifier, &entry.ty) {
                    (StorageEntryModifier::Optional, _) => vec![0],
                    (_, StorageEntryType::Plain(v) | StorageEntryType::Map { value: v, .. }) => {
                        zero_bytes(&types, v.id)
                    }
                };
            }
        }
    }

    let v14_pallets = registered
        .iter()
        .map(|p| v14::PalletMetadata::<PortableForm> {
            name: p.name.clone(),
            storage: p.storage.clone(),
            calls: p.calls.map(|ty| PalletCallMetadata { ty: ty.into() }),
            event: p.event.map(|ty| PalletEventMetadata { ty: ty.into() }),
            constants: p.constants.clone(),
            error: p.error.map(|ty| PalletErrorMetadata { ty: ty.into() }),
            index: p.index,
        })
        .collect();
    let v15_pallets = registered
        .iter()
        .map(|p| v15::PalletMetadata::<PortableForm> {
            name: p.name.clone(),
            storage: p.storage.clone(),
            calls: p.calls.map(|ty| PalletCallMetadata { ty: ty.into() }),
            event: p.event.map(|ty| PalletEventMetadata { ty: ty.into() }),
            constants: p.constants.clone(),
            error: p.error.map(|ty| PalletErrorMetadata { ty: ty.into() }),
            index: p.index,
            docs: Vec::new(),
        })
        .collect();

    let v14 = v14::RuntimeMetadataV14 {
        types: types.clone(),
        pallets: v14_pallets,
        extrinsic: v14::ExtrinsicMetadata {
            ty: extrinsic_ty.into(),
            version: 4,
            signed_extensions: signed_extensions.clone(),
        },
        ty: runtime_ty.into(),
    };
    let v15 = v15::RuntimeMetadataV15 {
        types,
        pallets: v15_pallets,
        extrinsic: v15::ExtrinsicMetadata {
            version: 4,
            address_ty: address_ty.into(),
            call_ty: call_ty.into(),
            signature_ty: signature_ty.into(),
            extra_ty: extra_ty.into(),
            signed_extensions: signed_extensions
                .iter()
                .map(|e| v15::SignedExtensionMetadata {
                    identifier: e.identifier.clone(),
                    ty: e.ty,
                    additional_signed: e.additional_signed,
                })
                .collect(),
        },
        ty: runtime_ty.into(),
        apis,
        outer_enums: OuterEnums {
            call_enum_ty: call_ty.into(),
            event_enum_ty: event_ty.into(),
            error_enum_ty: error_ty.into(),
        },
        custom: CustomMetadata { map: BTreeMap::new() },
    };
    Built {
        v14: RuntimeMetadataPrefixed::from(v14).encode(),
        v15: RuntimeMetadataPrefixed::from(v15).encode(),
    }
}

/// The SCALE bytes of a type's zero value (empty sequences, first variants, zero numbers).
fn zero_bytes(types: &PortableRegistry, id: u32) -> Vec<u8> {
    let Some(ty) = types.resolve(id) else {
        return Vec::new();
    };
    match &ty.type_def {
        TypeDef::Primitive(p) => {
            let width = match p {
                TypeDefPrimitive::Bool | TypeDefPrimitive::U8 | TypeDefPrimitive::I8 => 1,
                TypeDefPrimitive::U16 | TypeDefPrimitive::I16 => 2,
                TypeDefPrimitive::U32 | TypeDefPrimitive::I32 | TypeDefPrimitive::Char => 4,
                TypeDefPrimitive::U64 | TypeDefPrimitive::I64 => 8,
                TypeDefPrimitive::U128 | TypeDefPrimitive::I128 => 16,
                TypeDefPrimitive::U256 | TypeDefPrimitive::I256 => 32,
                TypeDefPrimitive::Str => 1,
            };
            vec![0; width]
        }
        TypeDef::Compact(_) | TypeDef::Sequence(_) | TypeDef::BitSequence(_) => vec![0],
        TypeDef::Array(a) => (0..a.len)
            .flat_map(|_| zero_bytes(types, a.type_param.id))
            .collect(),
        TypeDef::Tuple(t) => t.fields.iter().flat_map(|f| zero_bytes(types, f.id)).collect(),
        TypeDef::Composite(c) => c.fields.iter().flat_map(|f| zero_bytes(types, f.ty.id)).collect(),
        TypeDef::Variant(v) => match v.variants.iter().min_by_key(|v| v.index) {
            Some(first) => std::iter::once(first.index)
                .chain(first.fields.iter().flat_map(|f| zero_bytes(types, f.ty.id)))
                .collect(),
            None => Vec::new(),
        },
    }
}

/// `SelectiveMetagraph`'s fields in subtensor's order; a client asks for them by position.
const SELECTIVE_METAGRAPH: Fields<'static> = &[
    ("netuid", "Compact<u16>"),
    ("name", "Option<Vec<Compact<u8>>>"),
    ("symbol", "Option<Vec<Compact<u8>>>"),
    ("identity", "Option<Option<SubnetIdentityV3>>"),
    ("network_registered_at", "Option<Compact<u64>>"),
    ("owner_hotkey", "Option<AccountId32>"),
    ("owner_coldkey", "Option<AccountId32>"),
    ("block", "Option<Compact<u64>>"),
    ("tempo", "Option<Compact<u16>>"),
    ("last_step", "Option<Compact<u64>>"),
    ("blocks_since_last_step", "Option<Compact<u64>>"),
    ("subnet_emission", "Option<Compact<u64>>"),
    ("alpha_in", "Option<Compact<u64>>"),
    ("alpha_out", "Option<Compact<u64>>"),
    ("tao_in", "Option<Compact<u64>>"),
    ("alpha_out_emission", "Option<Compact<u64>>"),
    ("alpha_in_emission", "Option<Compact<u64>>"),
    ("tao_in_emission", "Option<Compact<u64>>"),
    ("pending_alpha_emission", "Option<Compact<u64>>"),
    ("pending_root_emission", "Option<Compact<u64>>"),
    ("subnet_volume", "Option<Compact<u128>>"),
    ("moving_price", "Option<FixedI128>"),
    ("rho", "Option<Compact<u16>>"),
    ("kappa", "Option<Compact<u16>>"),
    ("min_allowed_weights", "Option<Compact<u16>>"),
    ("max_weights_limit", "Option<Compact<u16>>"),
    ("weights_version", "Option<Compact<u64>>"),
    ("weights_rate_limit", "Option<Compact<u64>>"),
    ("activity_cutoff", "Option<Compact<u64>>"),
    ("max_validators", "Option<Compact<u16>>"),
    ("num_uids", "Option<Compact<u16>>"),
    ("max_uids", "Option<Compact<u16>>"),
    ("burn", "Option<Compact<u64>>"),
    ("difficulty", "Option<Compact<u64>>"),
    ("registration_allowed", "Option<bool>"),
    ("pow_registration_allowed", "Option<bool>"),
    ("immunity_period", "Option<Compact<u16>>"),
    ("min_difficulty", "Option<Compact<u64>>"),
    ("max_difficulty", "Option<Compact<u64>>"),
    ("min_burn", "Option<Compact<u64>>"),
    ("max_burn", "Option<Compact<u64>>"),
    ("adjustment_alpha", "Option<Compact<u64>>"),
    ("adjustment_interval", "Option<Compact<u16>>"),
    ("target_regs_per_interval", "Option<Compact<u16>>"),
    ("max_regs_per_block", "Option<Compact<u16>>"),
    ("serving_rate_limit", "Option<Compact<u64>>"),
    ("commit_reveal_weights_enabled", "Option<bool>"),
    ("commit_reveal_period", "Option<Compact<u64>>"),
    ("liquid_alpha_enabled", "Option<bool>"),
    ("alpha_high", "Option<Compact<u16>>"),
    ("alpha_low", "Option<Compact<u16>>"),
    ("bonds_moving_avg", "Option<Compact<u64>>"),
    ("hotkeys", "Option<Vec<AccountId32>>"),
    ("coldkeys", "Option<Vec<AccountId32>>"),
    ("identities", "Option<Vec<Option<ChainIdentityV2>>>"),
    ("axons", "Option<Vec<AxonInfo>>"),
    ("active", "Option<Vec<bool>>"),
    ("validator_permit", "Option<Vec<bool>>"),
    ("pruning_score", "Option<Vec<Compact<u16>>>"),
    ("last_update", "Option<Vec<Compact<u64>>>"),
    ("emission", "Option<Vec<Compact<u64>>>"),
    ("dividends", "Option<Vec<Compact<u16>>>"),
    ("incentives", "Option<Vec<Compact<u16>>>"),
    ("consensus", "Option<Vec<Compact<u16>>>"),
    ("trust", "Option<Vec<Compact<u16>>>"),
    ("rank", "Option<Vec<Compact<u16>>>"),
    ("block_at_registration", "Option<Vec<Compact<u64>>>"),
    ("alpha_stake", "Option<Vec<Compact<u64>>>"),
    ("tao_stake", "Option<Vec<Compact<u64>>>"),
    ("total_stake", "Option<Vec<Compact<u64>>>"),
    (
        "tao_dividends_per_hotkey",
        "Option<Vec<(AccountId32, Compact<u64>)>>",
    ),
    (
        "alpha_dividends_per_hotkey",
        "Option<Vec<(AccountId32, Compact<u64>)>>",
    ),
    ("validators", "Option<Vec<Compact<u16>>>"),
    ("commitments", "Option<Vec<(AccountId32, Vec<Compact<u8>>)>>"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use codec::Decode;

    #[test]
    fn builds_and_decodes_in_both_versions_and_subxt_accepts_it() {
        let built = build();
        for (bytes, version) in [(&built.v14, 14), (&built.v15, 15)] {
            let decoded = RuntimeMetadataPrefixed::decode(&mut &bytes[..]).expect("decodes");
            assert_eq!(decoded.1.version(), version);
            let md = subxt::metadata::Metadata::decode_from(&bytes[..]).expect("subxt reads it");
            let subtensor = md.pallet_by_name("SubtensorModule").expect("SubtensorModule");
            assert_eq!(subtensor.call_index(), 7);
            assert!(subtensor.call_variant_by_name("set_weights").is_some());
        }
        assert_eq!(build().v15, built.v15, "deterministic");
    }

    #[test]
    fn type_expressions_share_ids() {
        let mut t = Types::new();
        let a = t.ty("Option<Vec<(u16, u64)>>");
        let b = t.ty(" Option<Vec<(u16, u64)>> ");
        let c = t.ty("Option<Vec<(u16, u32)>>");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            split_top("u8, (u16, u32), [u8; 4]"),
            vec!["u8", "(u16, u32)", "[u8; 4]"]
        );
    }

    #[test]
    fn zero_values_encode_as_the_node_defaults_them() {
        let mut t = Types::new();
        let tempo = t.ty("u16");
        let list = t.ty("Vec<u64>");
        t.strukt("Pair", "x::Pair", &[], &[("a", "u32"), ("b", "Option<u8>")]);
        let pair = t.ty("Pair");
        let types = t.finish();
        assert_eq!(zero_bytes(&types, tempo), vec![0, 0]);
        assert_eq!(zero_bytes(&types, list), vec![0]);
        assert_eq!(zero_bytes(&types, pair), vec![0, 0, 0, 0, 0]);
    }
}
