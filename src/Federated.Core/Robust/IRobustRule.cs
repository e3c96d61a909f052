namespace Federated.Core.Robust;

/// <summary>
/// A Byzantine-robust rule that decides how much each update counts. It returns coefficients gamma_k,
/// and the robust aggregate is sum_k gamma_k dW_k: a FLoRA stack with gamma in place of p, so robust
/// aggregation and heterogeneous ranks compose exactly (ALGORITHMS.md B1).
/// </summary>
public interface IRobustRule
{
    /// <summary>The name used on the command line and in federation configs.</summary>
    string Name { get; }

    /// <param name="gram">Inner products of the updates in weight space.</param>
    /// <param name="weights">The clients' weights p_k (summing to one), e.g. from example counts.</param>
    double[] Weigh(UpdateGram gram, IReadOnlyList<double> weights);
}

/// <summary>A rule cannot run on the updates it was given (too few for its f, bad parameters).</summary>
public class RobustRuleException(string message) : Exception(message);
