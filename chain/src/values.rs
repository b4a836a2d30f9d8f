//! Build and read SCALE values for whatever shape the runtime metadata gives a type: a default for every
//! type (zeros, empty sequences, `None`, the first variant) and named overrides on top. The devnet
//! encodes its storage, events and runtime-API answers this way, so its bytes always follow the
//! metadata it serves.

use scale_info::{PortableRegistry, TypeDef, TypeDefPrimitive};
use subxt::ext::scale_encode::EncodeAsType;
use subxt::ext::scale_value::{self, Composite, Value, ValueDef};

#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("type {0} is not in the registry")]
    UnknownType(u32),
    #[error("type {ty} has no variant `{name}`")]
    NoVariant { ty: u32, name: String },
    #[error("cannot encode a value as type {ty}: {reason}")]
    Encode { ty: u32, reason: String },
}

/// The zero value of a type.
pub fn default_for(types: &PortableRegistry, id: u32) -> Result<Value, ValueError> {
    let ty = types.resolve(id).ok_or(ValueError::UnknownType(id))?;
    Ok(match &ty.type_def {
        TypeDef::Composite(c) => {
            if c.fields.iter().all(|f| f.name.is_some()) && !c.fields.is_empty() {
                let fields: Result<Vec<_>, _> = c
                    .fields
                    .iter()
                    .map(|f| Ok((f.name.clone().unwrap_or_default(), default_for(types, f.ty.id)?)))
                    .collect();
                Value::named_composite(fields?)
            } else {
                let fields: Result<Vec<_>, _> =
                    c.fields.iter().map(|f| default_for(types, f.ty.id)).collect();
                Value::unnamed_composite(fields?)
            }
        }
        TypeDef::Variant(v) => {
            let first = v
                .variants
                .iter()
                .min_by_key(|v| v.index)
                .ok_or(ValueError::NoVariant {
                    ty: id,
                    name: "<any>".into(),
                })?;
            variant_value(types, id, &first.name, Vec::new())?
        }
        TypeDef::Sequence(_) => Value::unnamed_composite(Vec::<Value>::new()),
        TypeDef::Array(a) => {
            let item = default_for(types, a.type_param.id)?;
            Value::unnamed_composite((0..a.len).map(|_| item.clone()))
        }
        TypeDef::Tuple(t) => {
            let fields: Result<Vec<_>, _> = t.fields.iter().map(|f| default_for(types, f.id)).collect();
            Value::unnamed_composite(fields?)
        }
        TypeDef::Primitive(p) => match p {
            TypeDefPrimitive::Bool => Value::bool(false),
            TypeDefPrimitive::Char => Value::char('\0'),
            TypeDefPrimitive::Str => Value::string(""),
            TypeDefPrimitive::I8
            | TypeDefPrimitive::I16
            | TypeDefPrimitive::I32
            | TypeDefPrimitive::I64
            | TypeDefPrimitive::I128
            | TypeDefPrimitive::I256 => Value::i128(0),
            _ => Value::u128(0),
        },
        TypeDef::Compact(c) => default_for(types, c.type_param.id)?,
        TypeDef::BitSequence(_) => Value::bit_sequence(scale_value::BitSequence::new()),
    })
}

/// Variant `name` of enum type `id`, with the given named fields and defaults for the rest (or
/// the given values in order, for a variant with unnamed fields).
pub fn variant_value(
    types: &PortableRegistry,
    id: u32,
    name: &str,
    fields: Vec<(&str, Value)>,
) -> Result<Value, ValueError> {
    let ty = types.resolve(id).ok_or(ValueError::UnknownType(id))?;
    let TypeDef::Variant(v) = &ty.type_def else {
        return Err(ValueError::NoVariant {
            ty: id,
            name: name.into(),
        });
    };
    let var = v
        .variants
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| ValueError::NoVariant {
            ty: id,
            name: name.into(),
        })?;
    let named = var.fields.iter().all(|f| f.name.is_some()) && !var.fields.is_empty();
    if named {
        let mut out = Vec::with_capacity(var.fields.len());
        for f in &var.fields {
            let fname = f.name.clone().unwrap_or_default();
            let given = fields.iter().find(|(n, _)| *n == fname).map(|(_, v)| v.clone());
            out.push((
                fname,
                match given {
                    Some(v) => v,
                    None => default_for(types, f.ty.id)?,
                },
            ));
        }
        Ok(Value::named_variant(name, out))
    } else {
        let mut given = fields.into_iter().map(|(_, v)| v);
        let mut out = Vec::with_capacity(var.fields.len());
        for f in &var.fields {
            out.push(match given.next() {
                Some(v) => v,
                None => default_for(types, f.ty.id)?,
            });
        }
        Ok(Value::unnamed_variant(name, out))
    }
}

/// The default of composite type `id` with some named fields replaced.
pub fn composite_with(
    types: &PortableRegistry,
    id: u32,
    fields: Vec<(&str, Value)>,
) -> Result<Value, ValueError> {
    let mut value = default_for(types, id)?;
    if let ValueDef::Composite(Composite::Named(existing)) = &mut value.value {
        for (name, v) in fields {
            if let Some(slot) = existing.iter_mut().find(|(n, _)| n == name) {
                slot.1 = v;
            }
        }
    }
    Ok(value)
}

/// `Some(v)` / `None` for an `Option<T>` type.
pub fn some(v: Value) -> Value {
    Value::unnamed_variant("Some", [v])
}

/// SCALE-encode `value` as type `id`.
pub fn encode(types: &PortableRegistry, id: u32, value: &Value) -> Result<Vec<u8>, ValueError> {
    value.encode_as_type(id, types).map_err(|e| ValueError::Encode {
        ty: id,
        reason: e.to_string(),
    })
}

/// Replace the value at a path of named fields inside `value` (no-op if the path is absent).
pub fn set_in(value: &mut Value, path: &[&str], new: Value) {
    let Some((first, rest)) = path.split_first() else {
        *value = new;
        return;
    };
    if let ValueDef::Composite(Composite::Named(fields)) = &mut value.value
        && let Some((_, inner)) = fields.iter_mut().find(|(n, _)| n == first)
    {
        set_in(inner, rest, new);
    }
}

/// Read a number out of a decoded value, looking through single-field wrappers (`NetUid(u16)`,
/// `Compact<…>`, balances).
pub fn as_u128(value: &Value) -> Option<u128> {
    match &value.value {
        ValueDef::Primitive(scale_value::Primitive::Bool(b)) => Some(u128::from(*b)),
        ValueDef::Primitive(p) => p.as_u128(),
        ValueDef::Composite(c) if c.len() == 1 => c.values().next().and_then(as_u128),
        _ => None,
    }
}

/// Read raw bytes (`[u8; N]`, `Vec<u8>`, or one of those in a single-field wrapper).
pub fn as_bytes(value: &Value) -> Option<Vec<u8>> {
    let ValueDef::Composite(c) = &value.value else {
        return None;
    };
    if c.len() == 1
        && let Some(inner) = c.values().next()
        && matches!(inner.value, ValueDef::Composite(_))
    {
        return as_bytes(inner);
    }
    c.values()
        .map(|v| as_u128(v).and_then(|x| u8::try_from(x).ok()))
        .collect()
}

/// The items of a sequence value, looking through a single-field wrapper (`BoundedVec(Vec<T>)`)
/// when its one field is itself a sequence.
pub fn items(value: &Value) -> Vec<&Value> {
    match &value.value {
        ValueDef::Composite(c) => {
            if c.len() == 1
                && let Some(inner) = c.values().next()
                && matches!(inner.value, ValueDef::Composite(_))
            {
                return items(inner);
            }
            c.values().collect()
        }
        _ => Vec::new(),
    }
}
