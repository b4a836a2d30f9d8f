//! The devnet's own metadata held against Finney's (`$KINDRED_SHARED/chain/bittensor.scale`, spec
//! 424): every pallet, call, event, error, storage item, constant, transaction extension and
//! runtime API the devnet describes must have Finney's index, name, hashers and type shape. Enums
//! may list fewer variants than Finney's (the devnet implements a subset) but never different
//! ones. Storage defaults are not compared: the devnet projects every key it knows, and its
//! defaults are zero values rather than subtensor's tuned ones.

use std::collections::HashSet;
use std::path::PathBuf;

use codec::Decode;
use kindred_devnet::metadata::{ERRORS, build_for};
use scale_info::{PortableRegistry, TypeDef};
use subxt::ext::frame_metadata::v14::{StorageEntryModifier, StorageEntryType, StorageHasher};
use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed, v14, v15, v16};

fn finney() -> v16::RuntimeMetadataV16 {
    let dir = std::env::var_os("KINDRED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let path = dir.join("chain/bittensor.scale");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "Finney metadata missing at {} (set KINDRED_SHARED): {e}",
            path.display()
        )
    });
    match RuntimeMetadataPrefixed::decode(&mut &bytes[..])
        .expect("Finney metadata decodes")
        .1
    {
        RuntimeMetadata::V16(m) => m,
        other => panic!("expected V16, got V{}", other.version()),
    }
}

fn ours() -> (v14::RuntimeMetadataV14, v15::RuntimeMetadataV15) {
    // Built for Finney's 12 s slot: the devnet reports its own block time in `Aura::SlotDuration`,
    // and every other constant must equal Finney's whatever the block time.
    let built = build_for(12_000);
    let v14 = match RuntimeMetadataPrefixed::decode(&mut &built.v14[..])
        .expect("V14 decodes")
        .1
    {
        RuntimeMetadata::V14(m) => m,
        other => panic!("expected V14, got V{}", other.version()),
    };
    let v15 = match RuntimeMetadataPrefixed::decode(&mut &built.v15[..])
        .expect("V15 decodes")
        .1
    {
        RuntimeMetadata::V15(m) => m,
        other => panic!("expected V15, got V{}", other.version()),
    };
    (v14, v15)
}

/// Structural comparison of a type in our registry with one in Finney's.
struct Shapes<'a> {
    ours: &'a PortableRegistry,
    theirs: &'a PortableRegistry,
    seen: HashSet<(u32, u32)>,
}

impl<'a> Shapes<'a> {
    fn new(ours: &'a PortableRegistry, theirs: &'a PortableRegistry) -> Shapes<'a> {
        Shapes {
            ours,
            theirs,
            seen: HashSet::new(),
        }
    }

    fn same(&mut self, a: u32, b: u32, at: &str) -> Result<(), String> {
        if !self.seen.insert((a, b)) {
            return Ok(());
        }
        let ta = self
            .ours
            .resolve(a)
            .ok_or(format!("{at}: our type {a} missing"))?;
        let tb = self
            .theirs
            .resolve(b)
            .ok_or(format!("{at}: Finney type {b} missing"))?;
        if ta.path.segments != tb.path.segments {
            return Err(format!(
                "{at}: path {:?} vs Finney {:?}",
                ta.path.segments, tb.path.segments
            ));
        }
        match (&ta.type_def, &tb.type_def) {
            (TypeDef::Composite(x), TypeDef::Composite(y)) => {
                if x.fields.len() != y.fields.len() {
                    return Err(format!(
                        "{at}: {} fields vs Finney {}",
                        x.fields.len(),
                        y.fields.len()
                    ));
                }
                for (i, (fa, fb)) in x.fields.iter().zip(&y.fields).enumerate() {
                    if fa.name != fb.name {
                        return Err(format!("{at}: field {i} {:?} vs Finney {:?}", fa.name, fb.name));
                    }
                    let name = fa.name.clone().unwrap_or_else(|| i.to_string());
                    self.same(fa.ty.id, fb.ty.id, &format!("{at}.{name}"))?;
                }
                Ok(())
            }
            (TypeDef::Variant(x), TypeDef::Variant(y)) => {
                for va in &x.variants {
                    let vb = y
                        .variants
                        .iter()
                        .find(|v| v.name == va.name)
                        .ok_or(format!("{at}: variant {} not in Finney", va.name))?;
                    if va.index != vb.index {
                        return Err(format!(
                            "{at}::{}: index {} vs Finney {}",
                            va.name, va.index, vb.index
                        ));
                    }
                    if va.fields.len() != vb.fields.len() {
                        return Err(format!("{at}::{}: field count differs", va.name));
                    }
                    for (i, (fa, fb)) in va.fields.iter().zip(&vb.fields).enumerate() {
                        if fa.name != fb.name {
                            return Err(format!(
                                "{at}::{} field {i}: {:?} vs Finney {:?}",
                                va.name, fa.name, fb.name
                            ));
                        }
                        self.same(fa.ty.id, fb.ty.id, &format!("{at}::{}.{i}", va.name))?;
                    }
                }
                Ok(())
            }
            (TypeDef::Sequence(x), TypeDef::Sequence(y)) => {
                self.same(x.type_param.id, y.type_param.id, &format!("{at}[]"))
            }
            (TypeDef::Array(x), TypeDef::Array(y)) if x.len == y.len => {
                self.same(x.type_param.id, y.type_param.id, &format!("{at}[;]"))
            }
            (TypeDef::Tuple(x), TypeDef::Tuple(y)) if x.fields.len() == y.fields.len() => {
                for (i, (fa, fb)) in x.fields.iter().zip(&y.fields).enumerate() {
                    self.same(fa.id, fb.id, &format!("{at}.{i}"))?;
                }
                Ok(())
            }
            (TypeDef::Compact(x), TypeDef::Compact(y)) => {
                self.same(x.type_param.id, y.type_param.id, &format!("{at}<compact>"))
            }
            (TypeDef::Primitive(x), TypeDef::Primitive(y)) if x == y => Ok(()),
            (x, y) => Err(format!("{at}: {x:?} vs Finney {y:?}")),
        }
    }
}

fn hashers_eq(a: &[StorageHasher], b: &[v16::StorageHasher]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| format!("{x:?}") == format!("{y:?}"))
}

#[test]
fn every_item_the_devnet_describes_matches_finney() {
    let theirs = finney();
    let (_, ours) = ours();
    let mut shapes = Shapes::new(&ours.types, &theirs.types);
    let mut problems = Vec::new();
    let mut checked = 0usize;
    let mut check = |r: Result<(), String>| {
        checked += 1;
        if let Err(e) = r {
            problems.push(e);
        }
    };

    for p in &ours.pallets {
        let Some(f) = theirs.pallets.iter().find(|f| f.name == p.name) else {
            check(Err(format!("pallet {} not in Finney", p.name)));
            continue;
        };
        check(if p.index == f.index {
            Ok(())
        } else {
            Err(format!(
                "pallet {}: index {} vs Finney {}",
                p.name, p.index, f.index
            ))
        });
        if let Some(calls) = &p.calls {
            let fc = f.calls.as_ref().map(|c| c.ty.id).unwrap_or(u32::MAX);
            check(shapes.same(calls.ty.id, fc, &format!("{}::Call", p.name)));
        }
        if let Some(event) = &p.event {
            let fe = f.event.as_ref().map(|c| c.ty.id).unwrap_or(u32::MAX);
            check(shapes.same(event.ty.id, fe, &format!("{}::Event", p.name)));
        }
        if let Some(error) = &p.error {
            let fe = f.error.as_ref().map(|c| c.ty.id).unwrap_or(u32::MAX);
            check(shapes.same(error.ty.id, fe, &format!("{}::Error", p.name)));
        }
        for c in &p.constants {
            let Some(fc) = f.constants.iter().find(|fc| fc.name == c.name) else {
                check(Err(format!("constant {}.{} not in Finney", p.name, c.name)));
                continue;
            };
            check(shapes.same(c.ty.id, fc.ty.id, &format!("{}.{}", p.name, c.name)));
            check(if c.value == fc.value {
                Ok(())
            } else {
                Err(format!("constant {}.{}: value differs", p.name, c.name))
            });
        }
        let Some(storage) = &p.storage else { continue };
        let Some(fs) = &f.storage else {
            check(Err(format!("{} has no storage in Finney", p.name)));
            continue;
        };
        check(if storage.prefix == fs.prefix {
            Ok(())
        } else {
            Err(format!("{}: storage prefix {}", p.name, storage.prefix))
        });
        for e in &storage.entries {
            let at = format!("{}.{}", p.name, e.name);
            let Some(fe) = fs.entries.iter().find(|fe| fe.name == e.name) else {
                check(Err(format!("storage {at} not in Finney")));
                continue;
            };
            let same_modifier = matches!(
                (&e.modifier, &fe.modifier),
                (
                    StorageEntryModifier::Optional,
                    v16::StorageEntryModifier::Optional
                ) | (StorageEntryModifier::Default, v16::StorageEntryModifier::Default)
            );
            check(if same_modifier {
                Ok(())
            } else {
                Err(format!(
                    "{at}: modifier {:?} vs Finney {:?}",
                    e.modifier, fe.modifier
                ))
            });
            match (&e.ty, &fe.ty) {
                (StorageEntryType::Plain(a), v16::StorageEntryType::Plain(b)) => {
                    check(shapes.same(a.id, b.id, &at));
                }
                (
                    StorageEntryType::Map { hashers, key, value },
                    v16::StorageEntryType::Map {
                        hashers: fh,
                        key: fk,
                        value: fv,
                    },
                ) => {
                    check(if hashers_eq(hashers, fh) {
                        Ok(())
                    } else {
                        Err(format!("{at}: hashers {hashers:?} vs Finney {fh:?}"))
                    });
                    check(shapes.same(key.id, fk.id, &format!("{at} key")));
                    check(shapes.same(value.id, fv.id, &format!("{at} value")));
                }
                _ => check(Err(format!("{at}: plain vs map"))),
            }
        }
    }

    // Outer enums: each pallet variant at the pallet's index, wrapping the same enum.
    check(shapes.same(
        ours.outer_enums.call_enum_ty.id,
        theirs.outer_enums.call_enum_ty.id,
        "RuntimeCall",
    ));
    check(shapes.same(
        ours.outer_enums.event_enum_ty.id,
        theirs.outer_enums.event_enum_ty.id,
        "RuntimeEvent",
    ));
    check(shapes.same(
        ours.outer_enums.error_enum_ty.id,
        theirs.outer_enums.error_enum_ty.id,
        "RuntimeError",
    ));

    // The extrinsic: address and signature types, and the transaction extensions in order.
    check(shapes.same(
        ours.extrinsic.address_ty.id,
        theirs.extrinsic.address_ty.id,
        "extrinsic address",
    ));
    check(shapes.same(
        ours.extrinsic.signature_ty.id,
        theirs.extrinsic.signature_ty.id,
        "extrinsic signature",
    ));
    let finney_extensions: Vec<&v16::TransactionExtensionMetadata<_>> = theirs
        .extrinsic
        .transaction_extensions_by_version
        .get(&0)
        .expect("extension version 0")
        .iter()
        .map(|i| &theirs.extrinsic.transaction_extensions[i.0 as usize])
        .collect();
    check(
        if ours.extrinsic.signed_extensions.len() == finney_extensions.len() {
            Ok(())
        } else {
            Err(format!(
                "{} transaction extensions vs Finney {}",
                ours.extrinsic.signed_extensions.len(),
                finney_extensions.len()
            ))
        },
    );
    for (a, b) in ours.extrinsic.signed_extensions.iter().zip(finney_extensions) {
        check(if a.identifier == b.identifier {
            Ok(())
        } else {
            Err(format!("extension {} vs Finney {}", a.identifier, b.identifier))
        });
        check(shapes.same(a.ty.id, b.ty.id, &a.identifier));
        check(shapes.same(
            a.additional_signed.id,
            b.implicit.id,
            &format!("{} implicit", a.identifier),
        ));
    }

    // Runtime APIs: inputs by name and shape, outputs by shape.
    for api in &ours.apis {
        let Some(fa) = theirs.apis.iter().find(|f| f.name == api.name) else {
            check(Err(format!("runtime API {} not in Finney", api.name)));
            continue;
        };
        for m in &api.methods {
            let at = format!("{}_{}", api.name, m.name);
            let Some(fm) = fa.methods.iter().find(|f| f.name == m.name) else {
                check(Err(format!("{at} not in Finney")));
                continue;
            };
            check(if m.inputs.len() == fm.inputs.len() {
                Ok(())
            } else {
                Err(format!("{at}: input count differs"))
            });
            for (i, fi) in m.inputs.iter().zip(&fm.inputs) {
                check(if i.name == fi.name {
                    Ok(())
                } else {
                    Err(format!("{at}: input {} vs Finney {}", i.name, fi.name))
                });
                check(shapes.same(i.ty.id, fi.ty.id, &format!("{at}({})", i.name)));
            }
            check(shapes.same(m.output.id, fm.output.id, &format!("{at} output")));
        }
    }

    assert!(
        problems.is_empty(),
        "{} drift(s) from Finney in {checked} checks:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(checked > 150, "only {checked} checks ran");
}

#[test]
fn the_error_table_is_what_the_metadata_declares() {
    let (_, ours) = ours();
    for (pallet, errors) in ERRORS {
        let p = ours
            .pallets
            .iter()
            .find(|p| p.name == *pallet)
            .unwrap_or_else(|| panic!("pallet {pallet}"));
        let ty = p.error.as_ref().expect("error enum").ty.id;
        let Some(TypeDef::Variant(v)) = ours.types.resolve(ty).map(|t| &t.type_def) else {
            panic!("{pallet} error enum")
        };
        for (index, name) in *errors {
            assert!(
                v.variants.iter().any(|x| x.index == *index && x.name == *name),
                "{pallet}::{name} at {index}"
            );
        }
    }
}

#[test]
fn the_v14_view_describes_the_same_pallets_and_extrinsic() {
    let (v14, v15) = ours();
    assert_eq!(v14.types, v15.types);
    assert_eq!(
        v14.pallets
            .iter()
            .map(|p| (p.name.as_str(), p.index))
            .collect::<Vec<_>>(),
        v15.pallets
            .iter()
            .map(|p| (p.name.as_str(), p.index))
            .collect::<Vec<_>>()
    );
    // V14 clients find address, call, signature and extensions through the extrinsic type's
    // parameters.
    let ext = v14.types.resolve(v14.extrinsic.ty.id).expect("extrinsic type");
    let param = |name: &str| {
        ext.type_params
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.ty)
            .map(|t| t.id)
    };
    assert_eq!(param("Address"), Some(v15.extrinsic.address_ty.id));
    assert_eq!(param("Call"), Some(v15.extrinsic.call_ty.id));
    assert_eq!(param("Signature"), Some(v15.extrinsic.signature_ty.id));
    assert_eq!(param("Extra"), Some(v15.extrinsic.extra_ty.id));
    assert_eq!(
        v14.extrinsic.signed_extensions.len(),
        v15.extrinsic.signed_extensions.len()
    );
}
