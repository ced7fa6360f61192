//! The whole-file helpers behind `fanzha train` and `fanzha eval`: read a
//! labelled CSV, then train or evaluate. The caller opens the files.

use super::data::{DataError, RejectedRow, TableFormat, read_labelled};
use super::eval::{EvalReport, evaluate};
use super::model::{Model, TrainError, TrainParams, train};
use std::io::Read;

/// Why a CSV could not be trained on.
#[derive(Debug, thiserror::Error)]
pub enum TrainCsvError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// A model trained from a file, with the rows that were skipped.
#[derive(Debug)]
pub struct TrainedFromCsv {
    pub model: Model,
    /// Rows used for training.
    pub rows: usize,
    pub rejected: Vec<RejectedRow>,
}

/// Reads `content`/`label` CSV (any column order; see [`read_labelled`]) and
/// trains on every good row.
pub fn train_from_csv(reader: impl Read, params: &TrainParams) -> Result<TrainedFromCsv, TrainCsvError> {
    train_from_table(reader, &TableFormat::csv(), params)
}

/// [`train_from_csv`] for any [`TableFormat`].
pub fn train_from_table(
    reader: impl Read,
    format: &TableFormat,
    params: &TrainParams,
) -> Result<TrainedFromCsv, TrainCsvError> {
    let data = read_labelled(reader, format)?;
    let model = train(&data.samples, params)?;
    Ok(TrainedFromCsv {
        model,
        rows: data.samples.len(),
        rejected: data.rejected,
    })
}

/// Reads `content`/`label` CSV and evaluates the model on every good row.
/// Returns the report and the rows that were skipped.
pub fn evaluate_csv(model: &Model, reader: impl Read) -> Result<(EvalReport, Vec<RejectedRow>), DataError> {
    evaluate_table(model, reader, &TableFormat::csv())
}

/// [`evaluate_csv`] for any [`TableFormat`].
pub fn evaluate_table(
    model: &Model,
    reader: impl Read,
    format: &TableFormat,
) -> Result<(EvalReport, Vec<RejectedRow>), DataError> {
    let data = read_labelled(reader, format)?;
    Ok((evaluate(model, &data.samples), data.rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "label,content\n\
        a,安全账户 洗钱 公安局\n\
        a,公安局 安全账户\n\
        b,一起吃饭 晚上\n\
        b,晚上 吃饭 电影\n\
        b,\n\
        a,洗钱 安全账户 资金\n";

    #[test]
    fn trains_and_evaluates_from_csv() {
        let params = TrainParams {
            bucket_bits: 10,
            epochs: 20,
            ..TrainParams::default()
        };
        let t = train_from_csv(CSV.as_bytes(), &params).unwrap();
        assert_eq!(t.rows, 5);
        assert_eq!(t.rejected.len(), 1);
        assert_eq!((t.rejected[0].row, t.rejected[0].line), (5, 6));
        let (r, rejected) = evaluate_csv(&t.model, CSV.as_bytes()).unwrap();
        assert_eq!((r.n, rejected.len()), (5, 1));
        assert_eq!(r.accuracy, 1.0);
        assert!(matches!(
            train_from_csv("label\nx\n".as_bytes(), &params),
            Err(TrainCsvError::Data(_))
        ));
        assert!(matches!(
            train_from_csv("label,content\na,x\n".as_bytes(), &params),
            Err(TrainCsvError::Train(TrainError::OneLabel { .. }))
        ));
    }
}
