namespace Federated.Attacks;

/// <summary>The deviation d in the NDSS'21 attacks' x = mu - gamma d (the paper's "inverse" directions).</summary>
public enum PerturbationDirection
{
    /// <summary>d = the honest updates' coordinate-wise sample std (the paper's default).</summary>
    StandardDeviation,

    /// <summary>d = mu / ||mu||.</summary>
    UnitVector,

    /// <summary>d = sign(mu).</summary>
    Sign,
}
