//! Taking a bank file in: the camt reader (`bank`) feeding the database's import (`db::Import`), one
//! database transaction per file. Shared by the command line and the upload.

use std::io::Cursor;

use bank::{CamtError, CamtReader, Item};
use db::{Db, ImportMeta, ImportRefused, ImportSummary};
use domain::{GeranceId, Timestamp, UserId};
use sha2::{Digest, Sha256};

/// The largest bank file taken in. A month of a busy account's camt.054 is a few hundred kilobytes.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;

/// Why a file was not taken in; nothing of it was kept.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is larger than 10 MB")]
    TooLarge,
    #[error("{0}")]
    Camt(#[from] CamtError),
    #[error("{0}")]
    Refused(#[from] ImportRefused),
    #[error("the file is for account {0}, which is no gérance's account")]
    UnknownAccount(String),
    #[error("the file names no account")]
    NoAccount,
    #[error("{0}")]
    Db(#[from] db::DbError),
}

/// Takes `bytes` (the file named `file_name`) in for `gerance` — or, when `None`, for the gérance whose
/// account the file is for.
pub async fn import(
    db: &Db,
    gerance: Option<GeranceId>,
    by: Option<UserId>,
    file_name: &str,
    bytes: &[u8],
) -> Result<ImportSummary, ImportError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge);
    }
    let sha256: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    let mut reader = CamtReader::new(Cursor::new(bytes))?;
    let format = reader.format().to_string();
    // The first item is the account: it says whose file it is.
    let Some(Item::Account(account)) = reader.next()? else { return Err(ImportError::NoAccount) };
    let gerance = match gerance {
        Some(g) => g,
        None => db
            .gerance_by_account(&account)
            .await?
            .ok_or_else(|| ImportError::UnknownAccount(account.to_string()))?,
    };
    let meta = ImportMeta { gerance, by, file_name, sha256: &sha256, format: &format };
    let mut import = db.begin_import(&meta, Timestamp::now()).await??;
    import.account(&account)?;
    while let Some(item) = reader.next()? {
        match item {
            Item::Account(iban) => import.account(&iban)?,
            Item::Transaction(movement) => import.add(&movement).await??,
        }
    }
    let message_id = reader.message_id().map(str::to_owned);
    Ok(import.finish(message_id.as_deref()).await?)
}
