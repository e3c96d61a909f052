namespace Federated.Training.Evaluation;

/// <summary>
/// A byte n-gram model's held-out score: mean negative natural log-likelihood per predicted byte, and how many
/// bytes were predicted (each window's first byte is context only).
/// </summary>
public sealed record ByteNGramScore(double NatsPerByte, long PredictedBytes)
{
    public double BitsPerByte => NatsPerByte / Math.Log(2);
}
